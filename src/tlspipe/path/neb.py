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
  comparison.
* periodic systems: ``remove_translation`` removes the mean force of every image (a rigid translation of
  one image costs no energy).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .options import NEBOptions

#: The defaults of :class:`~tlspipe.path.options.NEBOptions` (where each is explained), as a flat dict.
NEB_DEFAULTS = NEBOptions().as_dict()


_FM = {"reassoc", "contract"}  # lets reductions vectorise; keeps NaN/inf semantics


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


@njit(cache=True, error_model="numpy")
def _capped_step(X, V, dt, max_move, atom_dim):
    """Move the interior images by dt * V, shortened so that no particle moves more than max_move."""
    M, D = X.shape
    vmax2 = 0.0
    for i in range(1, M - 1):
        for q in range(D // atom_dim):
            a2 = 0.0
            for k in range(atom_dim):
                v = V[i, q * atom_dim + k]
                a2 += v * v
            if a2 > vmax2:
                vmax2 = a2
    h = dt
    if dt * math.sqrt(vmax2) > max_move:
        h = max_move / math.sqrt(vmax2)
    for i in range(1, M - 1):
        for d in range(D):
            X[i, d] += h * V[i, d]


@njit(cache=True, error_model="numpy")
def fire_update(X, V, Fn, state, params, atom_dim):
    """One FIRE 2.0 step on the interior images (rows 1..M-2) of X, velocities V, NEB forces Fn.

    state = [dt, alpha, n_pos, step] (updated in place); params = [dt_max, dt_min, n_delay, f_inc, f_dec,
    alpha0, f_alpha, max_move].
    """
    M, D = X.shape
    dt, alpha, n_pos, step = state[0], state[1], state[2], state[3]
    dt_max, dt_min, n_delay, f_inc, f_dec, alpha0, f_alpha, max_move = (
        params[0], params[1], params[2], params[3], params[4], params[5], params[6], params[7])
    p = 0.0
    for i in range(1, M - 1):
        for d in range(D):
            p += Fn[i, d] * V[i, d]
    if p > 0.0:
        n_pos += 1
        if n_pos > n_delay:
            dt = min(dt * f_inc, dt_max)
            alpha *= f_alpha
    else:
        n_pos = 0
        if step >= n_delay:
            if dt * f_dec >= dt_min:
                dt *= f_dec
            alpha = alpha0
        for i in range(1, M - 1):
            for d in range(D):
                X[i, d] -= 0.5 * dt * V[i, d]
                V[i, d] = 0.0
    vv = 0.0
    ff = 0.0
    for i in range(1, M - 1):
        for d in range(D):
            V[i, d] += dt * Fn[i, d]
            vv += V[i, d] * V[i, d]
            ff += Fn[i, d] * Fn[i, d]
    if ff > 0.0:
        s = alpha * math.sqrt(vv / ff)
        for i in range(1, M - 1):
            for d in range(D):
                V[i, d] = (1.0 - alpha) * V[i, d] + s * Fn[i, d]
    _capped_step(X, V, dt, max_move, atom_dim)
    state[0] = dt
    state[1] = alpha
    state[2] = n_pos
    state[3] = step + 1


@njit(cache=True, error_model="numpy")
def quickmin_update(X, V, Fn, dt, max_move, atom_dim):
    """One quick-min step per image: keep only the velocity component along the image's own force
    (zero if it points uphill), then a semi-implicit Euler step of length <= max_move per particle."""
    M, D = X.shape
    for i in range(1, M - 1):
        p = 0.0
        ff = 0.0
        for d in range(D):
            p += Fn[i, d] * V[i, d]
            ff += Fn[i, d] * Fn[i, d]
        c = p / ff if (p > 0.0 and ff > 0.0) else 0.0
        for d in range(D):
            V[i, d] = c * Fn[i, d] + dt * Fn[i, d]
    _capped_step(X, V, dt, max_move, atom_dim)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _dot(a, b):
    t = 0.0
    for i in range(a.size):
        t += a[i] * b[i]
    return t


@njit(cache=True, error_model="numpy", fastmath=_FM)
def lbfgs_direction(g, S, Y, rho, count, head, gamma, d):
    """d = -H g by the two-loop recursion over the ``count`` newest pairs of the ring buffer (S, Y, rho);
    the newest pair sits at index head - 1.  gamma: scale of the initial inverse Hessian.  Each pass over
    memory fuses the update with the next dot product; the scaling by gamma joins the last pass of the
    first loop and the sign the last pass of the second (2 count + 1 passes in all)."""
    m = S.shape[0]
    n = g.size
    if count == 0:
        for i in range(n):
            d[i] = -gamma * g[i]
        return
    alpha = np.empty(count)
    k = (head - 1) % m
    a = rho[k] * _dot(S[k], g)
    for j in range(count):
        k = (head - 1 - j) % m
        alpha[j] = a
        q = g if j == 0 else d  # the first pass reads g (d = g is never copied)
        t = 0.0
        if j + 1 < count:
            kn = (head - 2 - j) % m
            for i in range(n):
                v = q[i] - a * Y[k, i]
                d[i] = v
                t += S[kn, i] * v
            a = rho[kn] * t
        else:  # the oldest pair: scale by gamma, and the first dot of the second loop (same pair)
            for i in range(n):
                v = gamma * (q[i] - a * Y[k, i])
                d[i] = v
                t += Y[k, i] * v
            b = rho[k] * t
    for j in range(count - 1, -1, -1):
        k = (head - 1 - j) % m
        c = alpha[j] - b
        if j > 0:
            kn = (head - j) % m
            t = 0.0
            for i in range(n):
                v = d[i] + c * S[k, i]
                d[i] = v
                t += Y[kn, i] * v
            b = rho[kn] * t
        else:
            for i in range(n):
                d[i] = -(d[i] + c * S[k, i])


@njit(cache=True, error_model="numpy", fastmath=_FM)
def lbfgs_pair(x, fn, g, x_prev, g_prev, s, y, have_prev):
    """g = -fn; with have_prev also s = x - x_prev, y = g - g_prev (stored in single precision).
    Returns (s . y, y . y) (y . y of the stored y), or (0, 0) without have_prev."""
    sy = 0.0
    yy = 0.0
    if not have_prev:
        for i in range(x.size):
            g[i] = -fn[i]
        return sy, yy
    for i in range(x.size):
        gi = -fn[i]
        g[i] = gi
        a = x[i] - x_prev[i]
        b = gi - g_prev[i]
        s[i] = a
        y[i] = b
        sy += a * b
        yf = np.float64(np.float32(b))
        yy += yf * yf
    return sy, yy


@njit(cache=True, error_model="numpy", fastmath=_FM)
def lbfgs_finish(X, d, g, x_prev, g_prev, h0, max_move, atom_dim):
    """Descent check (falls back to -h0 g, returns True then), step cap, x_prev/g_prev update, X += d."""
    M, D = X.shape
    dg = 0.0
    for i in range(d.size):
        dg += d[i] * g[i]
    reset = not (dg < 0.0)
    if reset:
        for i in range(d.size):
            d[i] = -h0 * g[i]
    per = max_atom_norm(d, atom_dim)
    c = max_move / per if per > max_move else 1.0
    for i in range(1, M - 1):
        for j in range(D):
            q = (i - 1) * D + j
            x_prev[q] = X[i, j]
            g_prev[q] = g[q]
            X[i, j] += c * d[q]
    return reset


@njit(cache=True, error_model="numpy", fastmath=_FM)
def max_atom_norm(v, atom_dim):
    """Largest norm of consecutive blocks of atom_dim entries of the flat vector v."""
    m = 0.0
    if atom_dim == 3:  # unrolled: the loop vectorises
        for p in range(v.size // 3):
            a0 = v[3 * p]
            a1 = v[3 * p + 1]
            a2 = v[3 * p + 2]
            m = max(m, a0 * a0 + a1 * a1 + a2 * a2)
        return math.sqrt(m)
    for p in range(v.size // atom_dim):
        a = 0.0
        for k in range(atom_dim):
            x = v[p * atom_dim + k]
            a += x * x
        m = max(m, a)
    return math.sqrt(m)


class LBFGS:
    """Limited-memory BFGS steps on the concatenated interior images, driven by the NEB force.

    There is no objective function for a band, so there is no line search: the step is the L-BFGS
    direction, scaled down so that no particle moves more than max_move; a curvature pair with s.y <= 0 is
    skipped, and the memory is cleared when the direction is not a descent direction for the current
    force or the force grew tenfold over the best seen.  The two-loop recursion is compiled (no BLAS).
    """

    def __init__(self, n: int, memory: int = 10, h0: float = 0.005, max_move: float = 0.05, atom_dim: int = 3):
        self.m = max(int(memory), 1)
        self.h0 = float(h0)
        self.max_move = float(max_move)
        self.atom_dim = atom_dim
        self.S = np.zeros((self.m, n), np.float32)  # single precision halves the memory traffic
        self.Y = np.zeros((self.m, n), np.float32)
        self.rho = np.zeros(self.m)
        self.count = 0
        self.head = 0
        self.x_prev = np.zeros(n)
        self.g_prev = np.zeros(n)
        self.have_prev = False
        self.d = np.zeros(n)
        self.g = np.zeros(n)
        self.best = math.inf
        self.n_resets = 0

    def reset(self):
        self.count = 0
        self.head = 0
        self.have_prev = False
        self.n_resets += 1

    def step(self, X, Fn, fmax):
        x = X[1:-1].ravel()  # where the force was evaluated (after any reparametrisation)
        if fmax > 10.0 * self.best:
            self.reset()
        self.best = min(self.best, fmax)
        k = self.head
        g = self.g
        sy, yy = lbfgs_pair(x, Fn[1:-1].ravel(), g, self.x_prev, self.g_prev, self.S[k], self.Y[k],
                            self.have_prev)
        fresh = self.have_prev and sy > 1e-300
        if fresh:
            self.rho[k] = 1.0 / sy
            self.head = (self.head + 1) % self.m
            self.count = min(self.count + 1, self.m)
        if self.count:
            k = (self.head - 1) % self.m
            gamma = 1.0 / (self.rho[k] * (yy if fresh else _dot(self.Y[k], self.Y[k])))
        else:
            gamma = self.h0
        d = self.d
        lbfgs_direction(g, self.S, self.Y, self.rho, self.count, self.head, gamma, d)
        # not a descent direction: a gradient step instead, and the memory is cleared
        if lbfgs_finish(X, d, g, self.x_prev, self.g_prev, self.h0, self.max_move, self.atom_dim):
            self.count = 0
            self.head = 0
            self.n_resets += 1
        self.have_prev = True


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


@njit(cache=True, error_model="numpy")
def project_velocities(V, tau, climb_index):
    """Remove the tangential velocity of every interior image except the climbing one."""
    M, D = V.shape
    for i in range(1, M - 1):
        if i == climb_index:
            continue
        p = 0.0
        for d in range(D):
            p += V[i, d] * tau[i, d]
        for d in range(D):
            V[i, d] -= p * tau[i, d]


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
    if opt.method not in ("string", "neb"):
        raise ValueError(f"unknown NEB method {opt.method!r}; use 'string' or 'neb'")
    string = opt.method == "string"
    kappa = 0.0 if string else effective_spring(d0, opt.spring, opt.spring_ref_length, opt.spring_max)
    tol = effective_tol(d0, opt.tol, opt.tol_ref_length)
    E = np.empty(M)
    E[0], E[-1] = e_a, e_b
    F = np.zeros_like(X)
    e_in, f_in = E[1:-1], F[1:-1]
    bind = getattr(band_energy_forces, "bind_output", None)
    if bind is not None:  # the callable writes into E and F itself (saves a copy of the forces per iteration)
        bind(e_in, f_in)
    V = np.zeros_like(X)
    tau = np.zeros_like(X)
    fneb = np.zeros_like(X)
    params = np.array([opt.dt_max, opt.dt_min, opt.n_delay, opt.f_inc, opt.f_dec,
                       opt.alpha0, opt.f_alpha, opt.max_move], dtype=np.float64)
    uses_velocity = opt.optimiser in ("fire", "quickmin")
    stages = [False, True] if opt.climb else [False]
    if climb_only and opt.climb:
        stages = [True]
    it = 0
    history = []
    fmax = math.inf
    climb_index = -1
    reason = ""
    converged = False
    if opt.optimiser not in ("lbfgs", "fire", "quickmin", "sd"):
        raise ValueError(f"unknown optimiser {opt.optimiser!r}; use 'lbfgs', 'quickmin', 'fire' or 'sd'")
    for climb in stages:
        lbfgs = LBFGS(X[1:-1].size, opt.lbfgs_memory, opt.lbfgs_h0, opt.max_move, atom_dim)
        state = np.array([opt.dt, opt.alpha0, 0.0, 0.0])
        V[:] = 0.0
        converged = False
        while True:
            e_int, f_int = band_energy_forces(X[1:-1])
            if e_int is not e_in:
                e_in[:] = e_int
            if f_int is not f_in:
                f_in[:] = f_int
            # a sum is non-finite exactly when a term is (or the forces overflow): one pass, no temporary
            if not (math.isfinite(float(E.sum())) and math.isfinite(float(F[1:-1].sum()))):
                reason = "diverged"
                break
            if not climb:
                climb_index = -1
            elif climb_index < 0:  # chosen once per climbing stage: switching would reshuffle the string
                climb_index = int(np.argmax(E[1:-1])) + 1
            fmax = neb_forces(X, E, F, kappa, climb_index, atom_dim, bool(remove_translation), tau, fneb)
            if it % 50 == 0:
                history.append((it, fmax))
            if callback is not None:
                callback(it, X, E, fmax)
            if fmax < tol:
                converged = True
                break
            if stop_check is not None:
                why = stop_check(it, X, E, fmax)
                if why:
                    reason = why
                    break
            if it >= opt.max_iter:
                reason = "not converged"
                break
            if opt.optimiser == "fire":
                fire_update(X, V, fneb, state, params, atom_dim)
            elif opt.optimiser == "lbfgs":
                lbfgs.step(X, fneb, fmax)
            elif opt.optimiser == "quickmin":
                quickmin_update(X, V, fneb, opt.dt, opt.max_move, atom_dim)
            else:
                X[1:-1] += opt.dt * fneb[1:-1]
            if string:
                if climb_index > 0:
                    reparametrise(X, 0, climb_index)
                    reparametrise(X, climb_index, M - 1)
                else:
                    reparametrise(X, 0, M - 1)
                if uses_velocity:
                    project_velocities(V, tau, climb_index)
            it += 1
        if not converged:
            break
    return NEBResult(X, E.copy(), converged, it, float(fmax), tol, kappa, climb_index,
                     time.perf_counter() - t0, reason, history)
