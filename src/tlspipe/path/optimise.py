"""The optimisers that relax a band, behind one step interface (:class:`Optimiser`).

An optimiser moves the interior images (rows 1..M-2) of the band X (M, D) along the band force (the NEB
force of :func:`tlspipe.path.neb.neb_forces`, which is not the gradient of anything): ``step(X, fneb, fmax)``
once per iteration, and ``project(tau, climb_index)`` after a method moved the images (the string
method's reparametrisation), where an optimiser with velocities removes their tangential part.  One is made
per stage of :func:`tlspipe.path.neb.run_neb` by :func:`optimiser_factory` from ``NEBOptions.optimiser``:

* ``lbfgs`` (default): global limited-memory BFGS on the concatenated interior images, no line search, step
  capped at ``max_move`` per particle, memory cleared on a non-descent direction (:class:`LBFGS`);
* ``quickmin``: per-image velocity projection (:func:`quickmin_update`);
* ``fire``: FIRE 2.0 over the whole band (:func:`fire_update`), kept for comparison;
* ``sd``: steepest descent, X += dt F.

A new optimiser is a subclass of :class:`Optimiser` added to :data:`OPTIMISERS` (and to the choices of
``NEBOptions.optimiser``).  Units: epsilon, sigma, masses 1.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_FM = {"reassoc", "contract"}  # lets reductions vectorise; keeps NaN/inf semantics


class Optimiser:
    """The step interface: ``step(X, fneb, fmax)`` moves the interior images of X in place along the band
    force fneb (fmax: its largest per-particle norm); ``project(tau, climb_index)`` is called after the
    method moved the images (nothing to do without velocities)."""

    def step(self, X, fneb, fmax):
        raise NotImplementedError

    def project(self, tau, climb_index):
        pass


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


class LBFGS(Optimiser):
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


class _WithVelocities(Optimiser):
    """An optimiser with velocities V (M, D), which lose their tangential part after a reparametrisation
    (except the climbing image's)."""

    def __init__(self, X, opt, atom_dim: int = 3):
        self.V = np.zeros_like(X)
        self.atom_dim = atom_dim

    def project(self, tau, climb_index):
        project_velocities(self.V, tau, climb_index)


class FIRE(_WithVelocities):
    """FIRE 2.0 over the whole band (:func:`fire_update`)."""

    def __init__(self, X, opt, atom_dim: int = 3):
        super().__init__(X, opt, atom_dim)
        self.state = np.array([opt.dt, opt.alpha0, 0.0, 0.0])
        self.params = np.array([opt.dt_max, opt.dt_min, opt.n_delay, opt.f_inc, opt.f_dec,
                                opt.alpha0, opt.f_alpha, opt.max_move], dtype=np.float64)

    def step(self, X, fneb, fmax):
        fire_update(X, self.V, fneb, self.state, self.params, self.atom_dim)


class QuickMin(_WithVelocities):
    """Quick-min, per image (:func:`quickmin_update`)."""

    def __init__(self, X, opt, atom_dim: int = 3):
        super().__init__(X, opt, atom_dim)
        self.dt = opt.dt
        self.max_move = opt.max_move

    def step(self, X, fneb, fmax):
        quickmin_update(X, self.V, fneb, self.dt, self.max_move, self.atom_dim)


class SteepestDescent(Optimiser):
    """X += dt F on the interior images."""

    def __init__(self, X, opt, atom_dim: int = 3):
        self.dt = opt.dt

    def step(self, X, fneb, fmax):
        X[1:-1] += self.dt * fneb[1:-1]


def _lbfgs(X, opt, atom_dim: int = 3) -> LBFGS:
    return LBFGS(X[1:-1].size, opt.lbfgs_memory, opt.lbfgs_h0, opt.max_move, atom_dim)


#: optimiser name (``NEBOptions.optimiser``) -> factory (X, NEBOptions, atom_dim) -> Optimiser
OPTIMISERS = {"lbfgs": _lbfgs, "fire": FIRE, "quickmin": QuickMin, "sd": SteepestDescent}


def optimiser_factory(name: str):
    """The factory (X (M, D), NEBOptions, atom_dim) -> a fresh :class:`Optimiser` of ``name``; an unknown
    name is a ValueError listing the known ones."""
    if name not in OPTIMISERS:
        raise ValueError(f"unknown optimiser {name!r}; use 'lbfgs', 'quickmin', 'fire' or 'sd'")
    return OPTIMISERS[name]
