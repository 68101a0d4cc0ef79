"""Engines behind one interface: the energy and forces of a model, whichever code computes them.

::

    be = make_backend(system, engine="auto")     # system: model, types, masses, diameters, box
    e, f = be.energy_forces(x)                   # x (N, 3) -> total energy, forces (N, 3)
    E, F = be.energy_forces_batch(X)             # X (L, N, 3) -> E (L,), F (L, N, 3): NEB band, lanes
    be.neighbours                                # dict: how pairs are found (list kind, cutoffs, skin)
    be.swap                                      # None, or swap(x, diameters, n_attempts, T, seed) (soft spheres)
    be.name                                      # 'native-soft-sphere' | 'native-lj' | 'lammps'

Implementations:

* :class:`SoftSphereBackend`: the paper's soft spheres on the native kernels (:class:`tlspipe.engine.ForceField`;
  in a batch every lane keeps its own Verlet list, so consecutive calls of one lane reuse it);
* :class:`LJBackend`: multi-species Lennard-Jones (``pair_style lj/cut``), :mod:`tlspipe.engine.lj`;
* :class:`LammpsBackend`: any other ``pair_style`` (EAM, Tersoff, SW, tables, ...), the model's own lines
  run by LAMMPS through its Python module (:class:`tlspipe.engine.lammps.LammpsEngine`).

Choice (``engine='auto'``): the soft-sphere model runs natively; a model whose lines the native Lennard-Jones
family implements exactly (:func:`tlspipe.engine.lj.lj_params`) runs natively; anything else runs in
LAMMPS.  ``engine='native'`` refuses a model without a native implementation (naming the reason);
``engine='lammps'`` runs every model in LAMMPS (the soft spheres as the lepton expression).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import Model, ModelError, resolve_model

ENGINES = ("auto", "native", "lammps")


@dataclass
class System:
    """What a backend needs besides positions: the model, per-particle types (1-based), masses and diameters
    (the soft-sphere model's sigma_i; descriptive for other models), and the periodic box (3,)."""

    model: Model
    types: np.ndarray
    masses: np.ndarray
    diameters: np.ndarray
    box: np.ndarray

    def __post_init__(self):
        from . import as_box

        self.types = np.asarray(self.types, np.int64).reshape(-1)
        n = self.types.size
        self.masses = np.asarray(self.masses, np.float64).reshape(n)
        self.diameters = np.asarray(self.diameters, np.float64).reshape(n)
        self.box = as_box(self.box)

    @property
    def n_particles(self) -> int:
        return self.types.size

    @property
    def n_types(self) -> int:
        return int(self.types.max())


def soft_sphere_system(diameters, box) -> System:
    """The default model's system: one type, mass 1."""
    d = np.asarray(diameters, np.float64).reshape(-1)
    return System(resolve_model(None), np.ones(d.size, np.int64), np.ones(d.size), d, box)


class Backend:
    """The interface (see the module docstring).  Subclasses implement energy_forces; the batch call
    defaults to one call per configuration."""

    name = "backend"
    swap = None

    def __init__(self, system: System):
        self.system = system
        self.box = system.box

    @property
    def n_particles(self) -> int:
        return self.system.n_particles

    def _check(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.n_particles, 3):
            raise ValueError(f"positions must have shape ({self.n_particles}, 3), got {x.shape}")
        return x

    def energy_forces(self, x):
        raise NotImplementedError

    def energy_forces_batch(self, X):
        X = np.asarray(X, np.float64)
        if X.ndim != 3 or X.shape[1:] != (self.n_particles, 3):
            raise ValueError(f"a batch must have shape (L, {self.n_particles}, 3), got {X.shape}")
        E = np.empty(X.shape[0])
        F = np.empty_like(X)
        for k in range(X.shape[0]):
            E[k], F[k] = self._lane_energy_forces(k, X[k])
        return E, F

    def _lane_energy_forces(self, k, x):
        return self.energy_forces(x)

    def minimise(self, x, ftol: float = 1e-10, max_steps: int = 200_000):
        """(x_min, MinResult) by FIRE 2.0 on this backend's forces (:func:`fire`)."""
        return fire(self.energy_forces, x, ftol=ftol, max_steps=max_steps)

    @property
    def neighbours(self) -> dict:
        raise NotImplementedError

    def reset(self):
        """Forget neighbour lists (before a configuration unrelated to the last one, e.g. another file)."""

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SoftSphereBackend(Backend):
    name = "native-soft-sphere"

    def __init__(self, system: System, skin: float = 0.3):
        super().__init__(system)
        from . import ForceField

        self.skin = float(skin)
        self._ff = ForceField(system.diameters, system.box, skin=self.skin)
        self._lanes: list = []

    def energy_forces(self, x):
        return self._ff.energy_forces(self._check(x))

    def reset(self):
        self._ff.reset()

    def minimise(self, x, ftol: float = 1e-10, max_steps: int = 200_000):
        from . import fire_minimise

        return fire_minimise(x, self.system.diameters, self.box, ftol=ftol, max_steps=max_steps, skin=self.skin)

    def _lane_energy_forces(self, k, x):
        from . import ForceField

        while len(self._lanes) <= k:
            self._lanes.append(ForceField(self.system.diameters, self.box, skin=self.skin))
        return self._lanes[k].energy_forces(self._check(x))

    @property
    def neighbours(self) -> dict:
        from .. import model as ss

        return {"list": "half Verlet list from a cell list, rebuilt when a particle moved > skin/2",
                "cutoff": f"{ss.RC_FACTOR} sigma_ij (per pair)", "max_cutoff": ss.max_cutoff(self.system.diameters),
                "skin": self.skin}

    def swap(self, x, diameters, n_attempts, T, seed=-1):
        """Swap Monte Carlo of diameters (:func:`tlspipe.engine.swap_mc`): (new diameters, n_accepted, dU).
        The backend then runs the new diameters."""
        from . import swap_mc

        out = swap_mc(x, diameters, self.box, n_attempts, T, seed=seed)
        self.system.diameters = out[0]
        self._ff = type(self._ff)(out[0], self.box, skin=self.skin)
        self._lanes = []
        return out


class LJBackend(Backend):
    name = "native-lj"

    def __init__(self, system: System, params=None, skin: float = 0.3):
        super().__init__(system)
        from .lj import LJList, lj_params

        if params is None:
            params, why = lj_params(system.model, system.n_types)
            if params is None:
                raise ModelError(f"{system.model.source}: the native Lennard-Jones family cannot run this model "
                                 f"({why}); use engine 'lammps' (or 'auto')")
        self.params = params
        rc = params.max_cutoff
        half = 0.5 * float(np.min(self.box))
        if half <= rc:
            raise ValueError(f"box edge {2 * half:.6g} is not larger than twice the largest cutoff {rc:.6g} of "
                             f"{system.model.describe()}: use more particles so that the minimum image is exact")
        self.skin = float(min(skin, 0.999 * (half - rc)))
        self._types0 = system.types - 1
        self._make = lambda: LJList(params, self._types0, self.box, self.skin)
        self._main = self._make()
        self._lanes: list = []

    def energy_forces(self, x):
        x = self._check(x)
        f = np.empty_like(x)
        e = self._main.energy_forces(x, f)
        return float(e), f

    def _lane_energy_forces(self, k, x):
        while len(self._lanes) <= k:
            self._lanes.append(self._make())
        x = self._check(x)
        f = np.empty_like(x)
        return float(self._lanes[k].energy_forces(x, f)), f

    @property
    def neighbours(self) -> dict:
        return {"list": "half Verlet list from a cell list, rebuilt when a particle moved > skin/2",
                "cutoff": self.params.rc.tolist(), "max_cutoff": self.params.max_cutoff, "skin": self.skin,
                "shift": self.params.shift}


class LammpsBackend(Backend):
    name = "lammps"

    def __init__(self, system: System, skin: float | None = None):
        super().__init__(system)
        from .lammps import LammpsEngine

        m = system.model
        self.engine = LammpsEngine(system.diameters if m.is_soft_sphere else None, system.box, skin=skin,
                                   model=m, types=system.types, masses=system.masses)

    def energy_forces(self, x):
        return self.engine.energy_forces(self._check(x))

    def minimise(self, x, ftol: float = 1e-10, max_steps: int = 200_000):
        """LAMMPS's own FIRE (``minimize``, the native FIRE's parameters; see LammpsEngine.minimise)."""
        import warnings

        from .minimise import MinResult

        step0 = int(self.engine._lmp.extract_global("ntimestep"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            xm, e, fmax = self.engine.minimise(x, ftol=ftol, max_steps=max_steps)
        steps = int(self.engine._lmp.extract_global("ntimestep")) - step0
        return xm, MinResult(energy=float(e), max_force=float(fmax), n_steps=steps, converged=bool(fmax <= ftol))

    @property
    def neighbours(self) -> dict:
        return {"list": "LAMMPS neighbor bin, neigh_modify every 1 delay 0 check yes", "skin": self.engine.skin,
                "lines": self.system.model.lammps_commands()}

    def close(self):
        self.engine.close()


def native_kind(m: Model, n_types: int):
    """('soft-sphere' | 'lj', params) when a native backend implements the model, else (None, reason)."""
    if m.is_soft_sphere:
        return "soft-sphere", None
    from .lj import lj_params

    params, why = lj_params(m, n_types)
    return ("lj", params) if params is not None else (None, why)


def make_backend(system: System, engine: str = "auto", skin: float | None = None) -> Backend:
    """The backend that runs ``system`` (see the module docstring for the choice)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "lammps":
        return LammpsBackend(system, skin=skin)
    kind, extra = native_kind(system.model, system.n_types)
    if kind == "soft-sphere":
        return SoftSphereBackend(system, skin=0.3 if skin is None else skin)
    if kind == "lj":
        return LJBackend(system, params=extra, skin=0.3 if skin is None else skin)
    if engine == "native":
        raise ModelError(f"{system.model.source}: no native engine implements this model ({extra}); use engine "
                         "'lammps' or 'auto'")
    return LammpsBackend(system, skin=skin)


def fire(energy_forces, x, ftol: float = 1e-10, max_steps: int = 200_000, **params):
    """FIRE 2.0 on any force call ``energy_forces(x) -> (e, f)``: the algorithm and parameters of
    :func:`tlspipe.engine.fire_minimise` (semi-implicit Euler, mixing, half step back on uphill motion,
    initial delay, step capped at max_move), in numpy.  Returns (x_min, MinResult)."""
    from .minimise import FIRE_DEFAULTS, MinResult

    p = {**FIRE_DEFAULTS, **params}
    x = np.array(x, np.float64, copy=True)
    v = np.zeros_like(x)
    e, f = energy_forces(x)
    dt, alpha, n_pos, n_neg, step = p["dt"], p["alpha0"], 0, 0, 0
    fm = float(np.sqrt((f * f).sum(1)).max())
    while fm >= ftol and step < max_steps and np.isfinite(fm):
        if float((f * v).sum()) > 0.0:
            n_pos += 1
            n_neg = 0
            if n_pos > p["n_delay"]:
                dt = min(dt * p["f_inc"], p["dt_max"])
                alpha *= p["f_alpha"]
        else:
            n_pos = 0
            n_neg += 1
            if n_neg > p["max_uphill"]:
                break
            x -= 0.5 * dt * v
            v[:] = 0.0
            if step >= p["n_delay"]:
                if dt * p["f_dec"] >= p["dt_min"]:
                    dt *= p["f_dec"]
                alpha = p["alpha0"]
        v += dt * f
        ff = float((f * f).sum())
        if ff > 0.0:
            v = (1.0 - alpha) * v + alpha * np.sqrt(float((v * v).sum()) / ff) * f
        vmax = float(np.sqrt((v * v).sum(1)).max())
        if dt * vmax > p["max_move"]:
            v *= p["max_move"] / (dt * vmax)
        x += dt * v
        e, f = energy_forces(x)
        fm = float(np.sqrt((f * f).sum(1)).max())
        step += 1
    return x, MinResult(energy=float(e), max_force=fm, n_steps=step, converged=bool(fm < ftol))
