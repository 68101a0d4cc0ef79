"""Compiled MD and FIRE of the native multi-species Lennard-Jones family (:mod:`tlspipe.engine.lj`).

The exploration and the glass preparation of a ``native-lj`` model run here, each step inside one numba call
over the force kernel :func:`tlspipe.engine.lj.lj_energy_forces` and its Verlet list (rebuilt in the loop
when a particle moved more than skin/2, by :func:`tlspipe.engine.lj.lj_fill`)::

    dyn = LJDynamics(params, types0, masses, box)
    epot = dyn.md(x, v, dt, n_steps)                       # NVE velocity Verlet, in place
    epot = dyn.md(x, v, dt, n_steps, thermostat="langevin", T=(T0, T1), gamma=1.0, seed=3)
    x_min, res = dyn.fire(x, ftol=1e-6, known=..., exit_energy=..., exit_distance=..., exit_harmonic=...)

MD: velocity Verlet with per-particle masses (a = F / m).  ``thermostat='langevin'``: BAOAB with friction
gamma and the target temperature ramped linearly from T0 (first step) to T1 (last step), the noise of
particle i of variance (1 - exp(-2 gamma dt)) T / m_i; with T0 = T1 a plain NVT run.

FIRE: the algorithm, parameters and early stop at known minima of :mod:`tlspipe.engine.minimise`
(:func:`tlspipe.engine.minimise._known_minimum` is called as is), step for step; positions are moved by the
forces as if every mass were 1, by decision: an inherent structure is a minimum of the potential energy, and
its basin is that of the descent along -grad E in Cartesian coordinates, which involves no mass; FIRE with
unit masses follows that descent the same way for every model (the soft spheres' FIRE has unit masses too),
so which IS a snapshot reaches does not depend on the masses in the model file.  (LAMMPS's ``min_style fire``
divides by the masses; for unequal masses it may send a snapshot on a basin boundary to the neighbouring IS.
The MD, the temperature and the NEB's mass-weighted coordinates do use the masses.)

A Verlet list that outgrows its arrays makes the call return a flag; the wrapper then doubles the arrays and
reruns the call from the saved input, so the result is the same as with large arrays from the start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .lj import LJParams, _max_disp2, lj_energy_forces, lj_fill
from .minimise import FIRE_DEFAULTS, MinResult, _known_minimum


@njit(cache=True, error_model="numpy")
def _ef(x, f, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh):
    """Energy and forces into f, the list rebuilt when needed (nlist[0]: pairs, -1 unbuilt; nlist[1]: builds).
    Returns (energy, ok); ok False when the list arrays are too short."""
    if nlist[0] < 0 or _max_disp2(x, xref) > 0.25 * skin * skin:
        m = lj_fill(x, types, nt, box, rl2, rlmax, pi, pj, pc, sh)
        if m < 0:
            return 0.0, False
        nlist[0] = m
        nlist[1] += 1
        xref[:, :] = x
    return lj_energy_forces(x, pi, pj, pc, sh, nlist[0], e4, s2, rc2, esh, f), True


@njit(cache=True, error_model="numpy")
def _md(x, v, minv, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh,
        dt, n_steps, mode, T0, T1, gamma, seed):
    """n_steps of velocity Verlet (mode 0) or Langevin BAOAB (mode 1, T ramped T0 -> T1).  Returns
    (epot, ok)."""
    n = x.shape[0]
    if seed >= 0:
        np.random.seed(seed)
    f = np.zeros_like(x)
    e, ok = _ef(x, f, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh)
    if not ok:
        return e, False
    hdt = 0.5 * dt
    qdt = 0.5 * dt if mode == 1 else dt
    c1 = np.exp(-gamma * dt)
    for step in range(n_steps):
        for i in range(n):
            for d in range(3):
                v[i, d] += hdt * f[i, d] * minv[i]
                x[i, d] += qdt * v[i, d]
        if mode == 1:
            T = T0 + (T1 - T0) * (step + 1) / n_steps
            c2 = np.sqrt((1.0 - c1 * c1) * T)
            for i in range(n):
                s = c2 * np.sqrt(minv[i])
                for d in range(3):
                    v[i, d] = c1 * v[i, d] + s * np.random.standard_normal()
                    x[i, d] += hdt * v[i, d]
        e, ok = _ef(x, f, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh)
        if not ok:
            return e, False
        for i in range(n):
            for d in range(3):
                v[i, d] += hdt * f[i, d] * minv[i]
    return e, True


@njit(cache=True, error_model="numpy")
def _fire(x, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh,
          ftol, max_steps, dt, dt_max, dt_min, n_delay, f_inc, f_dec, alpha0, f_alpha, max_uphill, max_move,
          refs, ref_e, n_ref, exit_energy, exit_distance, exit_harmonic):
    """FIRE 2.0 of tlspipe.engine.minimise._fire on the Lennard-Jones forces.  Returns
    (e, max|F_i|, steps, hit, ok)."""
    n = x.shape[0]
    hit = -1
    f = np.zeros_like(x)
    v = np.zeros_like(x)
    e, ok = _ef(x, f, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh)
    if not ok:
        return e, 0.0, 0, -1, False
    alpha = alpha0
    n_pos = 0
    n_neg = 0
    step = 0
    fm = _fmax(f)
    while fm >= ftol and step < max_steps and np.isfinite(fm):
        p = 0.0
        for i in range(n):
            for d in range(3):
                p += f[i, d] * v[i, d]
        if p > 0.0:
            n_pos += 1
            n_neg = 0
            if n_pos > n_delay:
                dt = min(dt * f_inc, dt_max)
                alpha *= f_alpha
        else:
            n_pos = 0
            n_neg += 1
            if n_neg > max_uphill:
                break
            for i in range(n):
                for d in range(3):
                    x[i, d] -= 0.5 * dt * v[i, d]
                    v[i, d] = 0.0
            if step >= n_delay:
                if dt * f_dec >= dt_min:
                    dt *= f_dec
                alpha = alpha0
        vv = 0.0
        ff = 0.0
        for i in range(n):
            for d in range(3):
                v[i, d] += dt * f[i, d]
                vv += v[i, d] * v[i, d]
                ff += f[i, d] * f[i, d]
        if ff > 0.0:
            scale = alpha * np.sqrt(vv / ff)
            for i in range(n):
                for d in range(3):
                    v[i, d] = (1.0 - alpha) * v[i, d] + scale * f[i, d]
        vmax2 = 0.0
        for i in range(n):
            a = v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2]
            if a > vmax2:
                vmax2 = a
        if dt * np.sqrt(vmax2) > max_move:
            c = max_move / (dt * np.sqrt(vmax2))
            for i in range(n):
                for d in range(3):
                    v[i, d] *= c
        for i in range(n):
            for d in range(3):
                x[i, d] += dt * v[i, d]
        e, ok = _ef(x, f, types, nt, box, rl2, rlmax, skin, pi, pj, pc, sh, nlist, xref, e4, s2, rc2, esh)
        if not ok:
            return e, 0.0, step, -1, False
        fm = _fmax(f)
        step += 1
        if n_ref > 0:
            hit = _known_minimum(x, v, f, e, box, refs, ref_e, n_ref, exit_energy, exit_distance, exit_harmonic)
            if hit >= 0:
                break
    return e, fm, step, hit, True


@njit(cache=True, error_model="numpy")
def _fmax(f):
    m = 0.0
    for i in range(f.shape[0]):
        a = f[i, 0] * f[i, 0] + f[i, 1] * f[i, 1] + f[i, 2] * f[i, 2]
        if not a <= m:
            m = a
    return np.sqrt(m)


_NO_REFS = np.zeros((0, 1, 3))
_NO_ENERGIES = np.zeros(0)


class LJDynamics:
    """MD and FIRE of one Lennard-Jones system (module docstring).  ``types0``: 0-based types (N,);
    ``masses`` (N,)."""

    def __init__(self, params: LJParams, types0, masses, box, skin: float = 0.3):
        from . import as_box

        self.p = params
        self.types = np.ascontiguousarray(types0, np.int64)
        n = self.types.size
        self.masses = np.ascontiguousarray(masses, np.float64).reshape(n)
        if not np.all(self.masses > 0):
            raise ValueError("masses must be positive")
        self.minv = 1.0 / self.masses
        self.box = as_box(box)
        rc = params.max_cutoff
        half = 0.5 * float(np.min(self.box))
        if half <= rc:
            raise ValueError(f"box edge {2 * half:.6g} is not larger than twice the largest cutoff {rc:.6g}: use "
                             "more particles so that the minimum image is exact")
        self.skin = float(min(skin, 0.999 * (half - rc)))
        rl = params.rc + self.skin
        self.rl2 = (rl**2).ravel().copy()
        self.rlmax = float(rl.max())
        self._alloc(max(64, 40 * n))
        self.nlist = np.array([-1, 0], np.int64)
        self.xref = np.zeros((n, 3))

    def _alloc(self, cap):
        self.pi = np.empty(cap, np.int32)
        self.pj = np.empty(cap, np.int32)
        self.pc = np.empty(cap, np.int64)
        self.sh = np.empty((cap, 3), np.float64)
        self.nlist = np.array([-1, 0], np.int64)

    def _list(self):
        p = self.p
        return (self.types, p.n_types, self.box, self.rl2, self.rlmax, self.skin, self.pi, self.pj, self.pc,
                self.sh, self.nlist, self.xref, p.e4, p.s2, p.rc2, p.esh)

    def _check(self, x):
        x = np.asarray(x)
        if x.shape != (self.types.size, 3):
            raise ValueError(f"positions must have shape ({self.types.size}, 3), got {x.shape}")
        if not np.all(np.isfinite(x)):
            from . import NonFiniteError

            raise NonFiniteError("positions contain NaN or inf")

    @property
    def n_builds(self) -> int:
        return int(self.nlist[1])

    def energy_forces(self, x):
        self._check(x)
        x = np.ascontiguousarray(x, np.float64)
        while True:
            f = np.empty_like(x)
            e, ok = _ef(x, f, *self._list())
            if ok:
                return float(e), f
            self._alloc(2 * self.pi.size)

    def md(self, x, v, dt: float, n_steps: int, thermostat: str = "nve", T=0.0, gamma: float = 1.0,
           seed: int = -1) -> float:
        """Advance (x, v) in place by n_steps; returns the potential energy at the end.  ``T``: a number or
        (T_first, T_last) for the Langevin ramp."""
        modes = {"nve": 0, "langevin": 1}
        if thermostat not in modes:
            raise ValueError(f"unknown thermostat {thermostat!r}; choose one of {sorted(modes)}")
        self._check(x)
        T0, T1 = (float(T), float(T)) if np.isscalar(T) else (float(T[0]), float(T[1]))
        x0, v0 = x.copy(), v.copy()
        while True:
            e, ok = _md(x, v, self.minv, *self._list(), float(dt), int(n_steps), modes[thermostat], T0, T1,
                        float(gamma), int(seed))
            if ok:
                break
            self._alloc(2 * self.pi.size)
            x[:], v[:] = x0, v0
        if not np.isfinite(e) or not np.all(np.isfinite(x)):
            from . import NonFiniteError

            raise NonFiniteError(f"the dynamics blew up (dt = {dt})")
        return float(e)

    def fire(self, x, ftol: float = 1e-10, max_steps: int = 200_000, known=None, exit_energy=None,
             exit_distance=None, exit_harmonic=None, **params):
        """(x_min, MinResult): tlspipe.engine.fire_minimise's contract on this system (x is not modified)."""
        self._check(x)
        p = {**FIRE_DEFAULTS, **params}
        if set(p) != set(FIRE_DEFAULTS):
            raise TypeError(f"unknown FIRE parameters {sorted(set(p) - set(FIRE_DEFAULTS))}")
        if known is None:
            refs, ref_e, n_ref, th = _NO_REFS, _NO_ENERGIES, 0, (0.0, 0.0, 0.0)
        else:
            th = (exit_energy, exit_distance, exit_harmonic)
            if any(t is None for t in th):
                raise TypeError("known minima need exit_energy, exit_distance and exit_harmonic")
            refs, ref_e, n_ref = known[0], known[1], int(known[2])
        x0 = np.array(x, np.float64, order="C", copy=True)
        while True:
            y = x0.copy()
            e, fm, steps, hit, ok = _fire(y, *self._list(), float(ftol), int(max_steps), float(p["dt"]),
                                          float(p["dt_max"]), float(p["dt_min"]), int(p["n_delay"]),
                                          float(p["f_inc"]), float(p["f_dec"]), float(p["alpha0"]),
                                          float(p["f_alpha"]), int(p["max_uphill"]), float(p["max_move"]),
                                          refs, ref_e, n_ref, *(float(t) for t in th))
            if ok:
                return y, MinResult(float(e), float(fm), int(steps), bool(fm < ftol), int(hit))
            self._alloc(2 * self.pi.size)


def maxwell_velocities_masses(masses, T: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian velocities at temperature T for per-particle masses: zero total momentum, kinetic temperature
    sum m v^2 / (3N - 3) exactly T."""
    m = np.asarray(masses, np.float64)
    v = rng.normal(0.0, 1.0, size=(m.size, 3)) * np.sqrt(T / m)[:, None]
    v -= (m[:, None] * v).sum(0) / m.sum()
    t = kinetic_temperature(v, m)
    if t > 0:
        v *= np.sqrt(T / t)
    return v


def kinetic_temperature(v, masses) -> float:
    m = np.asarray(masses, np.float64)
    return float((m[:, None] * v * v).sum() / max(3 * m.size - 3, 1))
