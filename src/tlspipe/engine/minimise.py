"""FIRE 2.0 energy minimisation (Guenole et al., Comput. Mater. Sci. 175, 109584 (2020)).

Semi-implicit Euler steps, velocity mixing, half-step back on uphill motion, and an initial delay before
the time step may shrink.  Converged when the largest per-particle force norm max_i |F_i| < ftol.

Known minima (``known=``): a descent may stop as soon as it is certainly ending in one of a set of known
minima m (positions, total energies E_m), without changing where it ends.  FIRE's mechanical energy
H = E(x) + K(v) does not increase (mixing keeps |v| or shrinks it, an uphill step zeroes v), so from a state
with H - E_m <= ``exit_energy`` the descent cannot climb a barrier higher than that.  The stop needs all of:

* 0 <= H - E_m <= exit_energy and E(x) > E_m (checked first: one comparison per known minimum and step);
* every particle within ``exit_distance`` of its place in m (minimum image);
* x on the harmonic bowl of m: with D = x - m, a quadratic well gives -F.D = 2 (E - E_m); the stop needs
  |-F.D / (2 (E - E_m)) - 1| <= ``exit_harmonic`` and so a force pointing at m (near a saddle or another
  well the ratio departs from 1).

Until then the steps are exactly those of the plain descent, so the descents that do not stop are
bit-for-bit unchanged.  A descent that stops reports the index of its minimum (``MinResult.known``) and
returns the configuration where it stopped (not a minimum: use the known one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..util.periodic import min_image
from .potential import energy_forces_auto, max_force, new_nlist


@dataclass
class MinResult:
    energy: float  # total potential energy, epsilon
    max_force: float  # max_i |F_i|, epsilon / sigma
    n_steps: int
    converged: bool
    known: int = -1  # index of the known minimum the descent was certified to end in (then it stopped early)


# defaults, in reduced time units
FIRE_DEFAULTS = dict(dt=0.005, dt_max=0.05, dt_min=1e-4, n_delay=5, f_inc=1.1, f_dec=0.5,
                     alpha0=0.1, f_alpha=0.99, max_uphill=2000, max_move=0.1)


@njit(cache=True, error_model="numpy")
def _fire(x, diam, box, skin, nl, ftol, max_steps, dt, dt_max, dt_min, n_delay, f_inc, f_dec,
          alpha0, f_alpha, max_uphill, max_move, refs, ref_e, n_ref, exit_energy, exit_distance,
          exit_harmonic):
    n = x.shape[0]
    hit = -1
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
        if n_ref > 0:
            hit = _known_minimum(x, v, f, e, box, refs, ref_e, n_ref, exit_energy, exit_distance, exit_harmonic)
            if hit >= 0:
                break
    return e, fm, step, nl, hit


@njit(cache=True, error_model="numpy")
def _known_minimum(x, v, f, e, box, refs, ref_e, n_ref, exit_energy, exit_distance, exit_harmonic):
    """Index of the known minimum the state (x, v) is certified to descend into, or -1 (module docstring)."""
    kin = -1.0
    for j in range(n_ref):
        if e <= ref_e[j] or e - ref_e[j] > exit_energy:
            continue
        if kin < 0.0:
            kin = 0.0
            for i in range(x.shape[0]):
                kin += v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2]
            kin *= 0.5
        h = e + kin - ref_e[j]
        if h > exit_energy:
            continue
        m = refs[j]
        r2max = exit_distance * exit_distance
        fd = 0.0
        far = False
        for i in range(x.shape[0]):
            r2 = 0.0
            for d in range(3):
                q = x[i, d] - m[i, d]
                q = min_image(q, box[d])
                r2 += q * q
                fd += f[i, d] * q
            if r2 > r2max:
                far = True
                break
        if far:
            continue
        if abs(-fd / (2.0 * (e - ref_e[j])) - 1.0) <= exit_harmonic:
            return j
    return -1


def fire_minimise(x, diameters, box, ftol: float = 1e-10, max_steps: int = 200_000, skin: float = 0.3,
                  nlist=None, known=None, exit_energy=None, exit_distance=None, exit_harmonic=None,
                  **params):
    """Minimise the potential energy from x by FIRE 2.0.

    Returns (x_min, MinResult).  x is not modified.  ``params`` override FIRE_DEFAULTS
    (dt, dt_max, dt_min, n_delay, f_inc, f_dec, alpha0, f_alpha, max_uphill, max_move).
    ``known = (positions (M, N, 3), total energies (M,), m)``: stop early when certainly descending into
    one of the first m of these minima, by the test of the module docstring with the thresholds
    exit_energy (epsilon), exit_distance (sigma) and exit_harmonic (all three required then; the
    exploration's defaults are in tlspipe.sample.defaults); ``MinResult.known`` is then its index.
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
    thresholds = (exit_energy, exit_distance, exit_harmonic)
    if known is None:
        refs, ref_e, n_ref = _NO_REFS, _NO_ENERGIES, 0
        thresholds = (0.0, 0.0, 0.0)
    else:
        if any(t is None for t in thresholds):
            raise TypeError("known minima need exit_energy, exit_distance and exit_harmonic")
        refs, ref_e, n_ref = known
        refs = np.ascontiguousarray(refs, dtype=np.float64)
        ref_e = np.ascontiguousarray(ref_e, dtype=np.float64)
        n_ref = int(n_ref)
        if refs.ndim != 3 or refs.shape[1:] != x.shape or ref_e.shape[0] < n_ref or refs.shape[0] < n_ref:
            raise ValueError(f"known minima must be (M, {x.shape[0]}, 3) positions and (M,) energies with M >= "
                             f"{n_ref}, got {refs.shape} and {ref_e.shape}")
    nl = nlist if nlist is not None else new_nlist(x, diam, box, skin)
    e, fm, steps, nl, hit = _fire(x, diam, box, float(skin), nl, float(ftol), int(max_steps), float(p["dt"]),
                                  float(p["dt_max"]), float(p["dt_min"]), int(p["n_delay"]), float(p["f_inc"]),
                                  float(p["f_dec"]), float(p["alpha0"]), float(p["f_alpha"]),
                                  int(p["max_uphill"]), float(p["max_move"]), refs, ref_e, n_ref,
                                  *(float(t) for t in thresholds))
    return x, MinResult(float(e), float(fm), int(steps), bool(fm < ftol), int(hit))


_NO_REFS = np.zeros((0, 1, 3))
_NO_ENERGIES = np.zeros(0)
