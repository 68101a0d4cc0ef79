"""The energy profile V(xi) along a path: arc length, double-well test, barrier, extension, splitting.

Conventions (reduced units: energies in epsilon, lengths in sigma, all masses 1):

* xi in [0, 1] is the normalised arc length of the polygonal path through the images in the full
  configuration space (3N coordinates, masses 1); d is the total arc length (sigma).
* The profile is extended beyond both ends along the straight line through the end image and its neighbour,
  r_end - s (r_next - r_end), s = 1, 2, ..., with the real potential, until it is well above the barrier
  (``extension_margin``), and further if the two lowest wave functions still reach the grid edges.
* V(xi) is interpolated by a monotone cubic spline (PCHIP) through the images and extension points and the
  Schroedinger equation -(hbar^2/2 m d^2) psi''(xi) + V psi = E psi is solved in x = xi d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.signal import find_peaks

from .options import ProfileOptions
from .schrodinger import solve_levels, wkb_delta0

#: The defaults of :class:`~tlspipe.path.options.ProfileOptions` (where each is explained), as a flat dict.
PROFILE_DEFAULTS = ProfileOptions().as_dict()


def arc_length(band: np.ndarray) -> np.ndarray:
    """Cumulative arc length (M,) of the polygonal path through images band (M, D); s[0] = 0, s[-1] = d."""
    band = np.asarray(band, dtype=np.float64).reshape(band.shape[0], -1)
    seg = np.sqrt(np.sum(np.diff(band, axis=0) ** 2, axis=1))
    return np.concatenate([[0.0], np.cumsum(seg)])


def classical_barrier(energy) -> float:
    """V_max - min(V(0), V(1)) (epsilon), from the sampled profile."""
    e = np.asarray(energy, dtype=np.float64)
    return float(e.max() - min(e[0], e[-1]))


@dataclass
class DWTest:
    is_dw: bool
    n_interior_minima: int
    n_maxima: int
    tolerance: float  # prominence threshold used (epsilon)
    reason: str = ""


def double_well_test(energy, abs_tol: float = PROFILE_DEFAULTS["dw_abs_tol"],
                     rel_tol: float = PROFILE_DEFAULTS["dw_rel_tol"]) -> DWTest:
    """Is the sampled profile a double well: minima only at the two ends and exactly one maximum?

    Extrema are counted with ``scipy.signal.find_peaks`` and kept when their topographic prominence exceeds
    tol = max(abs_tol, rel_tol * barrier) (epsilon), so that noise from a finite NEB tolerance does not count
    as a well.  The ends must be minima: the profile must rise from both ends by more than tol (an end that
    is not a minimum leaves no interior maximum, or creates an interior minimum).
    """
    e = np.asarray(energy, dtype=np.float64)
    if e.size < 3:
        raise ValueError("a profile needs at least 3 points")
    tol = max(abs_tol, rel_tol * classical_barrier(e))
    maxima, _ = find_peaks(e, prominence=tol)
    minima, _ = find_peaks(-e, prominence=tol)
    n_max, n_min = int(maxima.size), int(minima.size)
    reason = ""
    if n_min > 0:
        reason = f"{n_min} intermediate minim{'um' if n_min == 1 else 'a'}"
    elif n_max == 0:
        reason = "no barrier"
    elif n_max > 1:
        reason = f"{n_max} maxima"
    is_dw = n_min == 0 and n_max == 1
    if is_dw:
        top = e[maxima[0]]
        if top - e[0] <= tol or top - e[-1] <= tol:
            is_dw, reason = False, "an end is not a minimum of the profile"
    return DWTest(is_dw, n_min, n_max, tol, reason)


def extension_steps(n: int, first: int = 16) -> np.ndarray:
    """Step multiples s of the end segment used for the extension: 1, 2, ..., first, then the increment
    doubles every ``first`` points (keeps the number of energy evaluations small for soft ends)."""
    s, out, inc = 0.0, [], 1.0
    for k in range(n):
        if k and k % first == 0:
            inc *= 2.0
        s += inc
        out.append(s)
    return np.asarray(out)


def extend_end(energy_fn, r_end: np.ndarray, r_next: np.ndarray, v_stop: float, max_points: int,
               start: int = 0):
    """Energies along r_end - s (r_next - r_end) for the steps s of :func:`extension_steps`, from index
    ``start``, until the energy reaches v_stop (inclusive) or max_points are done.

    Returns (s, v) arrays (only the new points).
    """
    steps = extension_steps(max_points)
    delta = np.asarray(r_next) - np.asarray(r_end)
    ss, vs = [], []
    for s in steps[start:]:
        v = float(energy_fn(r_end - s * delta))
        ss.append(s)
        vs.append(v)
        if v >= v_stop:
            break
    return np.asarray(ss), np.asarray(vs)


@dataclass
class ProfileAnalysis:
    """Everything derived from a converged path (energies epsilon, lengths sigma)."""

    status: str  # 'dw' / 'not_dw' / 'failed: ...'
    d: float
    delta_e: float  # |V(1) - V(0)|
    barrier: float
    e_qs: float = math.nan
    delta0: float = math.nan
    e0: float = math.nan
    e1: float = math.nan
    dw: DWTest | None = None
    xi: np.ndarray = field(default_factory=lambda: np.zeros(0))  # images and extension points
    v: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_extension: tuple = (0, 0)
    edge_weight: float = math.nan


def analyse_path(band: np.ndarray, energy: np.ndarray, energy_fn, hbar: float, mass: float = 1.0,
                 options: ProfileOptions | None = None, **overrides) -> ProfileAnalysis:
    """Double-well test, extension, Schroedinger splitting and WKB element of a converged path.

    band: (M, ...) images including both ends (the ends must be minima); energy: (M,) their energies
    (epsilon); energy_fn(r) -> energy of a configuration shaped like one image (used for the extension);
    hbar: reduced Planck constant (``model.unit_preset(...).hbar``); options:
    :class:`~tlspipe.path.options.ProfileOptions` (default: the defaults); overrides: some of its fields as
    keywords.  E_qs = E1 - E0 and Delta0 are computed for double wells only (NaN otherwise).
    """
    opt = ProfileOptions.of(options, **overrides)
    band = np.asarray(band, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    s = arc_length(band)
    d = float(s[-1])
    xi = s / d
    barrier = classical_barrier(e)
    delta_e = float(abs(e[-1] - e[0]))
    dw = double_well_test(e, opt.dw_abs_tol, opt.dw_rel_tol)
    out = ProfileAnalysis("dw" if dw.is_dw else "not_dw", d, delta_e, barrier, dw=dw, xi=xi, v=e)
    if not dw.is_dw:
        return out

    top = float(e.max())
    height = max(barrier, opt.extension_min_height)
    margin = opt.extension_margin
    seg_l = (s[1] - s[0]) / d
    seg_r = (s[-1] - s[-2]) / d
    sl, vl, sr, vr = np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    for attempt in range(int(opt.extension_attempts)):
        v_stop = top + margin * height
        nl, vl_new = extend_end(energy_fn, band[0], band[1], v_stop, opt.extension_max_points, start=sl.size)
        sl, vl = np.concatenate([sl, nl]), np.concatenate([vl, vl_new])
        nr, vr_new = extend_end(energy_fn, band[-1], band[-2], v_stop, opt.extension_max_points, start=sr.size)
        sr, vr = np.concatenate([sr, nr]), np.concatenate([vr, vr_new])
        tol = dw.tolerance
        if np.any(np.minimum.accumulate(vl) < e[0] - tol) or np.any(np.minimum.accumulate(vr) < e[-1] - tol):
            out.status = "failed: extension not confining"
            return out
        xs = np.concatenate([-sl[::-1] * seg_l, xi, 1.0 + sr * seg_r])
        vs = np.concatenate([vl[::-1], e, vr])
        spline = PchipInterpolator(xs * d, vs, extrapolate=False)
        lev = solve_levels(spline, xs[0] * d, xs[-1] * d, hbar, mass, n_grid=opt.grid_points, n_levels=2)
        out.xi, out.v, out.n_extension, out.edge_weight = xs, vs, (sl.size, sr.size), lev.edge_weight
        if lev.edge_weight <= opt.edge_weight_tol:
            break
        margin *= 2.0  # the levels feel the ends of the extension: go higher
    else:
        out.status = "failed: extension too short for the wave functions"
        return out
    out.e0, out.e1 = float(lev.energies[0]), float(lev.energies[1])
    out.e_qs = out.e1 - out.e0
    # WKB: minima are the ends, the top is the highest image; well curvatures from the sampled points
    itop = int(np.argmax(e))
    k_l = _parabola_curvature(xs * d, vs, int(np.searchsorted(xs, 0.0)))
    k_r = _parabola_curvature(xs * d, vs, int(np.searchsorted(xs, 1.0 - 1e-15)))
    w = wkb_delta0(spline, 0.0, d, xi[itop] * d, hbar, mass,
                   omega_left=math.sqrt(max(k_l, 0.0) / mass), omega_right=math.sqrt(max(k_r, 0.0) / mass))
    out.delta0 = w.delta0
    return out


def _parabola_curvature(x: np.ndarray, v: np.ndarray, i: int) -> float:
    """V'' at sample i from the parabola through samples i-1, i, i+1 (non-uniform spacing)."""
    i = min(max(i, 1), x.size - 2)
    x1, x2, x3 = x[i - 1: i + 2]
    y1, y2, y3 = v[i - 1: i + 2]
    return 2.0 * ((y3 - y2) / (x3 - x2) - (y2 - y1) / (x2 - x1)) / (x3 - x1)
