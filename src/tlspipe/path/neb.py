"""Minimum energy paths between two minima: string method (default) or nudged elastic band (NEB), with a
climbing image, relaxed by L-BFGS (default), quick-min, FIRE or steepest descent over the whole band.

Generic: the band is an array of images (M, D) (D = 3N for a glass, D = 2 for a model surface), and the
forces come from a callable ``band_energy_forces(X) -> (E (K,), F (K, D))`` over K interior images.
All masses are 1, so distances are plain Euclidean in the D-dimensional space.

Method (Henkelman & Jonsson, J. Chem. Phys. 113, 9978 (2000); Henkelman, Uberuaga & Jonsson, ibid. 9901;
E, Ren & Vanden-Eijnden, J. Chem. Phys. 126, 164103 (2007)):

* tangent: the upwind ("improved") tangent, energy-weighted at extrema.  Fallbacks when it degenerates
  (images on top of each other, equal energies): the bisector of the two unit segment vectors, then the
  end-to-end chord.  A band therefore never divides 0/0.
* force on an image: F_perp = F - (F . tau) tau; the climbing image (the highest interior image when the
  climbing stage starts, then kept) gets F - 2 (F . tau) tau.
* method 'string' (default): no springs; after every step the images are redistributed to equal arc length
  along the polygon (separately on each side of the climbing image).  This is the remedy for short,
  TLS-like paths: with kappa = 1 on a path of length ~0.1 the spring force (~1e-3) is no larger than the
  tolerance, and the images of a plain NEB collapse onto an end minimum; here they cannot, whatever the
  path length.
* method 'neb': springs kappa (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau, with kappa scaled to the straight
  end-to-end distance d0 so that kappa d0^2 stays constant (the scale-invariant choice):
  kappa_eff = kappa * clip((spring_ref_length / d0)^2, 1, spring_max / kappa).
* tolerance scaled to the path: tol_eff = tol * min(1, d0 / tol_ref_length), so the residual force times
  the path length (an energy) stays below tol * tol_ref_length.  Convergence: the largest per-particle
  norm of the band force over all interior images (``atom_dim`` coordinates per particle) below tol_eff,
  first without and then (``climb``) with the climbing image.
* optimisers.  The projected force is not the gradient of anything and its Jacobian is not symmetric;
  second-order dynamics (FIRE, global) amplifies the non-normal part and a glass band of a short pair drifts
  instead of converging, while first-order schemes do not.  Default: global L-BFGS (no line search, step
  capped at ``max_move`` per particle, memory cleared on a non-descent direction), which needs ~5x fewer
  iterations than quick-min (per-image velocity projection) or steepest descent.  FIRE 2.0 is kept for
  comparison.  They live in :mod:`tlspipe.path.optimise`, behind one step interface.
* code: :func:`run_neb` drives the band with a method object (:data:`METHODS`: its climbing-image, force
  and adjust-positions hooks) and an optimiser (:data:`tlspipe.path.optimise.OPTIMISERS`); a new method or
  optimiser is one class in one of the two modules.
* periodic systems: ``remove_translation`` removes the mean force of every image (a rigid translation of
  one image costs no energy).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .optimise import _FM, optimiser_factory
from .options import NEBOptions

#: The defaults of :class:`~tlspipe.path.options.NEBOptions` (where each is explained), as a flat dict.
NEB_DEFAULTS = NEBOptions().as_dict()


@njit(cache=True, error_model="numpy", fastmath=_FM)
def neb_forces(X, E, F, kappa, climb_index, atom_dim, remove_translation, tau, fneb):
    """NEB force on the interior images (rows 1..M-2) of X (M, D), energies E (M,), true forces F (M, D).

    Writes the unit tangents into tau and the NEB forces into fneb (rows 0 and M-1 are zeroed).
    climb_index: index of the climbing image, or -1.  remove_translation: subtract the mean force per
    Cartesian component from each image (periodic systems: a rigid translation of one image costs no
    energy, and spring forces along tangents would otherwise make the images drift apart).
    Returns the largest per-particle force norm.

    Each segment length is computed once, the tangent, its norm and F . tau in one pass, the force, the
    normalised tangent, the mean and the largest per-particle norm in two more; the reductions may be
    reassociated (vectorised), so results agree with a plain sequential sum to rounding.
    """
    M, D = X.shape
    n_at = D // atom_dim
    seg = np.empty(M - 1)
    for j in range(M - 1):
        a = 0.0
        for d in range(D):
            v = X[j + 1, d] - X[j, d]
            a += v * v
        seg[j] = math.sqrt(a)
    chord2 = 0.0
    for d in range(D):
        c = X[M - 1, d] - X[0, d]
        chord2 += c * c
    for d in range(D):
        fneb[0, d] = 0.0
        fneb[M - 1, d] = 0.0
        tau[0, d] = 0.0
        tau[M - 1, d] = 0.0
    fmax2 = 0.0
    for i in range(1, M - 1):
        lp = seg[i]
        lm = seg[i - 1]
        ep = E[i + 1]
        e0 = E[i]
        em = E[i - 1]
        if ep > e0 and e0 > em:
            wp, wm = 1.0, 0.0
        elif ep < e0 and e0 < em:
            wp, wm = 0.0, 1.0
        else:
            dmax = max(abs(ep - e0), abs(em - e0))
            dmin = min(abs(ep - e0), abs(em - e0))
            if ep > em:
                wp, wm = dmax, dmin
            else:
                wp, wm = dmin, dmax
        xp, x0, xm, ti, fi, ni = X[i + 1], X[i], X[i - 1], tau[i], F[i], fneb[i]
        nt2 = 0.0
        fpar = 0.0
        for d in range(D):
            t = wp * (xp[d] - x0[d]) + wm * (x0[d] - xm[d])
            ti[d] = t
            nt2 += t * t
            fpar += fi[d] * t
        scale = (wp + wm) * (lp + lm)
        if not (nt2 > (1e-10 * scale) ** 2) or scale == 0.0:
            # fallback 1: bisector of the unit segment vectors (zero-length segments dropped)
            nt2 = 0.0
            fpar = 0.0
            ip = 1.0 / lp if lp > 0.0 else 0.0
            im = 1.0 / lm if lm > 0.0 else 0.0
            for d in range(D):
                t = ip * (xp[d] - x0[d]) + im * (x0[d] - xm[d])
                ti[d] = t
                nt2 += t * t
                fpar += fi[d] * t
            if not (nt2 > 1e-20):
                # fallback 2: end-to-end chord
                nt2 = chord2
                fpar = 0.0
                for d in range(D):
                    t = X[M - 1, d] - X[0, d]
                    ti[d] = t
                    fpar += fi[d] * t
        inv = 1.0 / math.sqrt(nt2)
        fpar *= inv  # F . tau with the unit tangent
        if i == climb_index:
            c = -2.0 * fpar
        else:
            c = kappa * (lp - lm) - fpar
        c *= inv  # multiplies the tangent before normalisation
        for d in range(D):
            t = ti[d]
            ni[d] = fi[d] + c * t
            ti[d] = t * inv
        if atom_dim == 3:  # the glass: components unrolled, so that the loops vectorise
            if remove_translation:
                s0 = 0.0
                s1 = 0.0
                s2 = 0.0
                for p in range(n_at):
                    s0 += ni[3 * p]
                    s1 += ni[3 * p + 1]
                    s2 += ni[3 * p + 2]
                s0 /= n_at
                s1 /= n_at
                s2 /= n_at
                for p in range(n_at):
                    ni[3 * p] -= s0
                    ni[3 * p + 1] -= s1
                    ni[3 * p + 2] -= s2
            for p in range(n_at):
                a0 = ni[3 * p]
                a1 = ni[3 * p + 1]
                a2 = ni[3 * p + 2]
                fmax2 = max(fmax2, a0 * a0 + a1 * a1 + a2 * a2)
        else:
            if remove_translation:
                for k in range(atom_dim):
                    m = 0.0
                    for p in range(n_at):
                        m += ni[p * atom_dim + k]
                    m /= n_at
                    for p in range(n_at):
                        ni[p * atom_dim + k] -= m
            for p in range(n_at):
                a2 = 0.0
                for k in range(atom_dim):
                    v = ni[p * atom_dim + k]
                    a2 += v * v
                fmax2 = max(fmax2, a2)
    return math.sqrt(fmax2)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def reparametrise(X, lo, hi):
    """Move images lo+1..hi-1 of X (M, D) to equal arc length along the polygon through X[lo..hi]
    (linear interpolation; X[lo] and X[hi] stay)."""
    n = hi - lo
    if n < 2:
        return
    D = X.shape[1]
    s = np.zeros(n + 1)
    for k in range(n):
        a = 0.0
        for d in range(D):
            v = X[lo + k + 1, d] - X[lo + k, d]
            a += v * v
        s[k + 1] = s[k] + math.sqrt(a)
    L = s[n]
    if not (L > 0.0):
        return
    new = np.empty((n - 1, D))
    j = 0
    for k in range(1, n):
        target = L * k / n
        while j < n - 1 and s[j + 1] < target:
            j += 1
        seg = s[j + 1] - s[j]
        w = (target - s[j]) / seg if seg > 0.0 else 0.0
        for d in range(D):
            new[k - 1, d] = (1.0 - w) * X[lo + j, d] + w * X[lo + j + 1, d]
    for k in range(1, n):
        for d in range(D):
            X[lo + k, d] = new[k - 1, d]


@dataclass
class NEBResult:
    band: np.ndarray  # (M, D) images, ends included
    energy: np.ndarray  # (M,)
    converged: bool
    n_iter: int
    max_force: float  # final largest per-particle NEB force
    tol: float  # tolerance actually used
    spring: float  # spring constant actually used
    climb_index: int  # -1 without climbing image
    seconds: float
    reason: str = ""
    history: list = field(default_factory=list)  # (iteration, max_force) every 50 iterations


def interpolate(x_a: np.ndarray, x_b: np.ndarray, n_images: int) -> np.ndarray:
    """Linear interpolation (n_images, D) between two flattened configurations (ends included)."""
    t = np.linspace(0.0, 1.0, n_images)[:, None]
    return (1.0 - t) * x_a[None, :] + t * x_b[None, :]


def effective_spring(d0: float, spring: float, ref_length: float, spring_max: float) -> float:
    """kappa_eff = kappa * clip((ref_length / d0)^2, 1, spring_max / kappa) (epsilon / sigma^2)."""
    if d0 <= 0:
        return spring
    return float(spring * np.clip((ref_length / d0) ** 2, 1.0, max(spring_max / spring, 1.0)))


def effective_tol(d0: float, tol: float, ref_length: float) -> float:
    """tol_eff = tol * min(1, d0 / ref_length) (epsilon / sigma)."""
    return float(tol * min(1.0, d0 / ref_length)) if ref_length > 0 else float(tol)


class BandMethod:
    """How a band is driven, as hooks of :func:`run_neb` (in the manner of ASE's NEB methods): which image
    climbs (:meth:`climbing_image`), the tangents and the band force (:meth:`band_forces`, one fused
    kernel: :func:`neb_forces`), and what is done to the images after each optimiser step
    (:meth:`adjust_positions`).  ``kappa``: the spring constant the force uses (0 without springs).
    A new method is a subclass added to :data:`METHODS` (and to the choices of ``NEBOptions.method``)."""

    kappa = 0.0

    def climbing_image(self, E, climb: bool, current: int) -> int:
        """The climbing image of this iteration: -1 without climbing; in a climbing stage the highest
        interior image when the stage starts, then kept (switching would reshuffle the string)."""
        if not climb:
            return -1
        return int(np.argmax(E[1:-1])) + 1 if current < 0 else current

    def band_forces(self, X, E, F, climb_index, atom_dim, remove_translation, tau, fneb) -> float:
        """Unit tangents into tau, the band force into fneb; returns its largest per-particle norm."""
        return neb_forces(X, E, F, self.kappa, climb_index, atom_dim, bool(remove_translation), tau, fneb)

    def adjust_positions(self, X, climb_index: int, optimiser, tau):
        """After an optimiser step (nothing for a plain band)."""


class StringMethod(BandMethod):
    """'string': no springs; after every step the images go to equal arc length along the polygon, on each
    side of the climbing image separately, and the optimiser's velocities lose their tangential part."""

    def __init__(self, d0: float, opt: NEBOptions):
        self.kappa = 0.0

    def adjust_positions(self, X, climb_index: int, optimiser, tau):
        M = X.shape[0]
        if climb_index > 0:
            reparametrise(X, 0, climb_index)
            reparametrise(X, climb_index, M - 1)
        else:
            reparametrise(X, 0, M - 1)
        optimiser.project(tau, climb_index)


class ElasticBand(BandMethod):
    """'neb': springs kappa_eff (:func:`effective_spring` of the end-to-end length d0) along the tangent."""

    def __init__(self, d0: float, opt: NEBOptions):
        self.kappa = effective_spring(d0, opt.spring, opt.spring_ref_length, opt.spring_max)


#: method name (``NEBOptions.method``) -> class (d0, NEBOptions) -> BandMethod
METHODS = {"string": StringMethod, "neb": ElasticBand}


def _initial_band(x_a, x_b, band, opt: NEBOptions, atom_dim: int, d_scale):
    """The band (M, D) with its ends x_a, x_b, and the length d0 that scales the spring and the tolerance."""
    x_a = np.asarray(x_a, dtype=np.float64).ravel()
    x_b = np.asarray(x_b, dtype=np.float64).ravel()
    if x_a.shape != x_b.shape:
        raise ValueError(f"end points differ in shape: {x_a.shape} vs {x_b.shape}")
    if x_a.size % atom_dim:
        raise ValueError(f"dimension {x_a.size} is not a multiple of atom_dim={atom_dim}")
    M = int(opt.images) if band is None else band.shape[0]
    if M < 3:
        raise ValueError(f"a band needs at least 3 images, got {M}")
    X = interpolate(x_a, x_b, M) if band is None else np.array(band, dtype=np.float64).reshape(M, -1)
    X[0], X[-1] = x_a, x_b
    d0 = float(np.linalg.norm(x_b - x_a)) if d_scale is None else float(d_scale)
    if d0 == 0.0:
        raise ValueError("the two end points coincide")
    return X, d0


class _Band:
    """A band's arrays: images X, energies E and true forces F (ends included), tangents, band force."""

    def __init__(self, X, e_a: float, e_b: float, band_energy_forces):
        self.X = X
        self.E = np.empty(X.shape[0])
        self.E[0], self.E[-1] = e_a, e_b
        self.F = np.zeros_like(X)
        self.e_in, self.f_in = self.E[1:-1], self.F[1:-1]
        self.energy_forces = band_energy_forces
        bind = getattr(band_energy_forces, "bind_output", None)
        if bind is not None:  # the callable writes into E and F itself (saves a copy of the forces per iteration)
            bind(self.e_in, self.f_in)
        self.tau = np.zeros_like(X)
        self.fneb = np.zeros_like(X)

    def evaluate(self) -> bool:
        """Energies and forces of the interior images; False when one is not finite."""
        e_int, f_int = self.energy_forces(self.X[1:-1])
        if e_int is not self.e_in:
            self.e_in[:] = e_int
        if f_int is not self.f_in:
            self.f_in[:] = f_int
        # a sum is non-finite exactly when a term is (or the forces overflow): one pass, no temporary
        return math.isfinite(float(self.E.sum())) and math.isfinite(float(self.F[1:-1].sum()))


def run_neb(x_a, x_b, band_energy_forces, e_a: float, e_b: float, atom_dim: int = 3, band=None,
            callback=None, d_scale: float | None = None, climb_only: bool = False,
            remove_translation: bool = False, stop_check=None, options: NEBOptions | None = None,
            **overrides) -> NEBResult:
    """Relax a band between the fixed end points x_a, x_b (flattened, length D) to the minimum energy path.

    band_energy_forces(X) -> (E, F) for the interior images X (K, D); e_a, e_b: end energies.  If it has a
    method ``bind_output(E, F)``, that is called once with the (K,) and (K, D) views of the interior rows of
    the band's energy and force arrays, and returning them avoids a copy per iteration.
    band: optional initial band (M, D) (default: linear interpolation with ``images`` images).
    d_scale: length used to scale the spring and the tolerance (default: |x_b - x_a|).
    climb_only: skip the plain stage (for a band that is already converged with a climbing image).
    stop_check(it, X, E, fmax) -> str or None: called every iteration; a string stops the band
    (not converged) with that reason.
    remove_translation: keep each image's centre of mass fixed (translation-invariant periodic systems;
    the end points should then have the same centre of mass).
    options: :class:`~tlspipe.path.options.NEBOptions` (default: the defaults); overrides: some of its fields
    as keywords.  A band that does not converge within max_iter is returned with converged=False; one whose
    energies or forces become non-finite stops with reason 'diverged'.
    """
    opt = NEBOptions.of(options, **overrides)
    t0 = time.perf_counter()
    X, d0 = _initial_band(x_a, x_b, band, opt, atom_dim, d_scale)
    if opt.method not in METHODS:
        raise ValueError(f"unknown NEB method {opt.method!r}; use 'string' or 'neb'")
    method = METHODS[opt.method](d0, opt)
    tol = effective_tol(d0, opt.tol, opt.tol_ref_length)
    new_optimiser = optimiser_factory(opt.optimiser)  # an unknown name fails before any force call
    b = _Band(X, e_a, e_b, band_energy_forces)
    stages = [False, True] if opt.climb else [False]
    if climb_only and opt.climb:
        stages = [True]
    it, history, fmax, climb_index, reason, converged = 0, [], math.inf, -1, "", False
    for climb in stages:  # each stage with a fresh optimiser
        optimiser = new_optimiser(X, opt, atom_dim)
        converged = False
        while True:
            if not b.evaluate():
                reason = "diverged"
                break
            climb_index = method.climbing_image(b.E, climb, climb_index)
            fmax = method.band_forces(X, b.E, b.F, climb_index, atom_dim, remove_translation, b.tau, b.fneb)
            if it % 50 == 0:
                history.append((it, fmax))
            if callback is not None:
                callback(it, X, b.E, fmax)
            if fmax < tol:
                converged = True
                break
            why = stop_check(it, X, b.E, fmax) if stop_check is not None else None
            if why:
                reason = why
                break
            if it >= opt.max_iter:
                reason = "not converged"
                break
            optimiser.step(X, b.fneb, fmax)
            method.adjust_positions(X, climb_index, optimiser, b.tau)
            it += 1
        if not converged:
            break
    return NEBResult(X, b.E.copy(), converged, it, float(fmax), tol, method.kappa, climb_index,
                     time.perf_counter() - t0, reason, history)
