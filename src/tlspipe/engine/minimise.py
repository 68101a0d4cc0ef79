"""FIRE 2.0 energy minimisation (Guenole et al., Comput. Mater. Sci. 175, 109584 (2020)).

Semi-implicit Euler steps, velocity mixing, half-step back on uphill motion, and an initial delay before
the time step may shrink.  Converged when the largest per-particle force norm max_i |F_i| < ftol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .potential import energy_forces_auto, max_force, new_nlist


@dataclass
class MinResult:
    energy: float  # total potential energy, epsilon
    max_force: float  # max_i |F_i|, epsilon / sigma
    n_steps: int
    converged: bool


# defaults, in reduced time units
FIRE_DEFAULTS = dict(dt=0.005, dt_max=0.05, dt_min=1e-4, n_delay=5, f_inc=1.1, f_dec=0.5,
                     alpha0=0.1, f_alpha=0.99, max_uphill=2000, max_move=0.1)


@njit(cache=True, error_model="numpy")
def _fire(x, diam, box, skin, nl, ftol, max_steps, dt, dt_max, dt_min, n_delay, f_inc, f_dec,
          alpha0, f_alpha, max_uphill, max_move):
    n = x.shape[0]
    f = np.zeros_like(x)
    v = np.zeros_like(x)
    e, nl, _ = energy_forces_auto(x, diam, box, skin, nl, f)
    alpha = alpha0
    n_pos = 0
    n_neg = 0
    step = 0
    fm = max_force(f)
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
        # semi-implicit Euler with FIRE mixing
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
        # no particle moves more than max_move in one step (cap the velocity, so that the half step
        # back after an uphill step undoes exactly half of what was done)
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
        e, nl, _ = energy_forces_auto(x, diam, box, skin, nl, f)
        fm = max_force(f)
        step += 1
    return e, fm, step, nl


def fire_minimise(x, diameters, box, ftol: float = 1e-10, max_steps: int = 200_000, skin: float = 0.3,
                  nlist=None, **params):
    """Minimise the potential energy from x by FIRE 2.0.

    Returns (x_min, MinResult).  x is not modified.  ``params`` override FIRE_DEFAULTS
    (dt, dt_max, dt_min, n_delay, f_inc, f_dec, alpha0, f_alpha, max_uphill, max_move).
    """
    from . import NonFiniteError, as_box

    x = np.array(x, dtype=np.float64, copy=True, order="C")
    diam = np.ascontiguousarray(diameters, dtype=np.float64)
    box = as_box(box)
    if not np.all(np.isfinite(x)):
        raise NonFiniteError("positions contain NaN or inf")
    p = dict(FIRE_DEFAULTS)
    unknown = set(params) - set(p)
    if unknown:
        raise TypeError(f"unknown FIRE parameters {sorted(unknown)}; known: {sorted(p)}")
    p.update(params)
    nl = nlist if nlist is not None else new_nlist(x, diam, box, skin)
    e, fm, steps, nl = _fire(x, diam, box, float(skin), nl, float(ftol), int(max_steps), float(p["dt"]),
                             float(p["dt_max"]), float(p["dt_min"]), int(p["n_delay"]), float(p["f_inc"]),
                             float(p["f_dec"]), float(p["alpha0"]), float(p["f_alpha"]), int(p["max_uphill"]), float(p["max_move"]))
    return x, MinResult(float(e), float(fm), int(steps), bool(fm < ftol))
