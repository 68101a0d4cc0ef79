"""Configurations of one glass in SIMD lanes: forces, MD and FIRE quenches of L configurations at once.

Layout.  L configurations of the same system are held as one array (N, 3, W), the lane index last, W >= L a
multiple of 8 (the lanes beyond L are padding and ignored).  The force loop
(:func:`tlspipe.engine.potential.band_energy_forces_shared`) runs over the pairs of one neighbour list and,
inside, over the lanes without a branch, one configuration in each SIMD lane: in float64, 8 lanes at a time as
explicit vectors (:mod:`tlspipe.engine.simd`), as are the passes of the FIRE update (:func:`_fire_pre8`).

One list for all lanes.  The list is built at a reference (per particle, the middle of its range over the
lanes) and gives each particle an allowance a_i: its largest distance from the reference in any lane plus
``margin`` / 2.  A pair is listed when its reference distance is below the cutoff plus a_i + a_j, so the list
holds every pair within the cutoff in every lane until some particle of some lane leaves its allowance; the
list is then rebuilt.  When the largest allowance would exceed ``max_allow`` (a lane whose particles spread
beyond what one list serves, or one that is not finite), the lanes furthest from the others are evicted one by
one: an evicted lane is evaluated on its own Verlet list by the single-configuration kernel
(:func:`tlspipe.engine.potential.energy_forces`) and rejoins the shared list at a later rebuild.

Canonical pair order, hence equality.  Every list used here (shared or a lane's own) is written in one
order, by (i, j) with i < j, with the periodic shifts as exact multiples of the box edges.  A pair beyond the
cutoff contributes an exact zero, and adding zero changes no floating-point sum, so a configuration's
energy and forces are the same bits whichever list serves it, whichever lanes share it and whenever the lists
were rebuilt.  The MD and the quench of a configuration are therefore a deterministic function of that
configuration alone (not of its lane companions): a trajectory rerun after a kill in another group of lanes
repeats itself bit for bit.  Against the single-configuration path of ``potential``/``md``/``minimise``, whose
list order follows the cell list, the forces agree to rounding (the order of the sums over pairs) and the
arithmetic per pair is the same (one pair law, :func:`tlspipe.engine.potential.pair_ef`).

MD.  :class:`LaneMD` integrates NVE velocity Verlet per lane with the operations of
:func:`tlspipe.engine.md.run_md` (mode ``nve``), element for element.

FIRE.  :class:`LaneFIRE` runs the FIRE 2.0 of :mod:`tlspipe.engine.minimise` in every lane, each lane with its
own state (dt, alpha, velocity, the counts of up- and downhill steps, step count, convergence and the early stop
at a known minimum), step for step the arithmetic of ``minimise._fire``; a lane that finishes is handed back and
may be refilled with the next configuration while the others go on.

Mixed precision (opt-in).  :class:`MixedLaneFIRE` runs the bulk of each descent in float32 lanes
(:func:`band_energy_forces_shared32`, twice the lanes per SIMD register) and its end in float64 lanes, each
half of the lanes in flight.  Measured on the exploration benchmark it is slower than the float64 lanes (0.36x at
Tf = 0.092 and 0.34x at Tf = 0.062 the default 8 float64 lanes, slower than one quench at a time) and agrees with
one quench at a time on 1,998 of 2,000 snapshots (README, "Speed"): the float32 force loop is the compiler's
(the 8-lane vectors are float64), each stage has half the lanes, and the FIRE update mixes float32 arrays with
float64 lane scalars.  Opt-in only; not recommended.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .. import model
from ..util.periodic import min_image
from .potential import C0, C2, C4, RC2, band_energy_forces_shared, build_pairs, energy_forces, max_disp2
from .simd import VW, excess_lanes8, fire_euler8, fire_mix8, fire_move8, fire_power8, max_norm2_lanes8

RC = model.RC_FACTOR
# up to this many lanes the passes over the particles (FIRE update, max |F|, allowance check) run as 8-lane
# vectors block by block; wider lanes run the compiler's loops over all lanes at once, which read each array
# once instead of once per block (at N = 1500, 64 lanes: 85 against 55 us per lane-step)
VEC_PASS_LANES = 16


def lane_width(n_lanes: int) -> int:
    """Lanes allocated for n_lanes configurations: a multiple of 8 (the SIMD width in doubles)."""
    return 8 * ((max(int(n_lanes), 1) + 7) // 8)


@njit(cache=True, error_model="numpy")
def canonical_pairs(ref, box, pi, pj, ps, sh, m, n, allow):
    """The pairs of a half list (pi < pj) kept when their distance at ref is below RC sigma_ij + allow_i + allow_j
    (allow None-like: a length-0 array keeps every pair), sorted by (i, j), shifts rounded to exact multiples of
    the box edges.  Returns (pi, pj, ps, sh, m) (new arrays of length m)."""
    keep = np.ones(m, np.bool_)
    if allow.size > 0:
        for p in range(m):
            i = pi[p]
            j = pj[p]
            dx = ref[i, 0] - ref[j, 0] - sh[p, 0]
            dy = ref[i, 1] - ref[j, 1] - sh[p, 1]
            dz = ref[i, 2] - ref[j, 2] - sh[p, 2]
            r = np.sqrt(dx * dx + dy * dy + dz * dz)
            keep[p] = r < RC / np.sqrt(ps[p]) + allow[i] + allow[j]
    cnt = np.zeros(n + 1, np.int64)
    for p in range(m):
        if keep[p]:
            cnt[pi[p] + 1] += 1
    start = np.cumsum(cnt)
    mm = start[n]
    oi = np.empty(mm, np.int32)
    oj = np.empty(mm, np.int32)
    ops = np.empty(mm)
    osh = np.empty((mm, 3))
    fill = start[:-1].copy()
    for p in range(m):
        if keep[p]:
            q = fill[pi[p]]
            fill[pi[p]] += 1
            oi[q] = pi[p]
            oj[q] = pj[p]
            ops[q] = ps[p]
            for d in range(3):
                osh[q, d] = np.round(sh[p, d] / box[d]) * box[d]
    for i in range(n):  # insertion sort of each particle's short run by j
        for a in range(start[i] + 1, start[i + 1]):
            b = a
            while b > start[i] and oj[b - 1] > oj[b]:
                oj[b - 1], oj[b] = oj[b], oj[b - 1]
                ops[b - 1], ops[b] = ops[b], ops[b - 1]
                for d in range(3):
                    osh[b - 1, d], osh[b, d] = osh[b, d], osh[b - 1, d]
                b -= 1
    return oi, oj, ops, osh, mm


def canonical_list(x, diam, box, skin):
    """A Verlet list (pi, pj, ps, sh, m) of one configuration, in the canonical order (module docstring)."""
    from . import as_box

    x = np.ascontiguousarray(x, np.float64)
    box = as_box(box)
    pi, pj, ps, sh, m = build_pairs(x, np.ascontiguousarray(diam, np.float64), box, float(skin), 12 * x.shape[0])
    return canonical_pairs(x, box, pi, pj, ps, sh, m, x.shape[0], np.zeros(0))


_RC2_32, _C0_32, _C2_32, _C4_32 = np.float32(RC2), np.float32(C0), np.float32(C2), np.float32(C4)


@njit(cache=True, error_model="numpy")
def band_energy_forces_shared32(XT, pi, pj, ps, sh, npairs, ET, FT):
    """:func:`tlspipe.engine.potential.band_energy_forces_shared` in single precision: XT, FT (N, 3, W), ET (W,),
    ps and sh float32 (the pair law of ``pair_ef`` with its constants rounded to float32).  Twice the lanes per
    SIMD register; forces within ~1e-5 (relative to the largest) of the double-precision ones, a noise floor of
    max_i |F_i| near 1e-5 to 1e-4 at N = 1500, so it serves the bulk of a descent, not its end (LaneFIRE's
    ``precision="mixed"``)."""
    n, _, W = XT.shape
    zero = np.float32(0.0)
    one = np.float32(1.0)
    c12 = np.float32(12.0)
    c2 = np.float32(2.0) * _C2_32
    c4 = np.float32(4.0) * _C4_32
    for i in range(n):
        for c in range(3):
            for k in range(W):
                FT[i, c, k] = zero
    for k in range(W):
        ET[k] = zero
    for p in range(npairs):
        i = pi[p]
        j = pj[p]
        sx = sh[p, 0]
        sy = sh[p, 1]
        sz = sh[p, 2]
        is2 = ps[p]
        for k in range(W):
            dx = XT[i, 0, k] - XT[j, 0, k] - sx
            dy = XT[i, 1, k] - XT[j, 1, k] - sy
            dz = XT[i, 2, k] - XT[j, 2, k] - sz
            q = (dx * dx + dy * dy + dz * dz) * is2
            inside = q < _RC2_32
            q = q if inside else _RC2_32
            iq = one / q
            u6 = iq * iq * iq
            u12 = u6 * u6
            e = u12 + _C0_32 + q * (_C2_32 + _C4_32 * q)
            fr = (c12 * u12 * iq - c2 - c4 * q) * is2
            e = e if inside else zero
            fr = fr if inside else zero
            ET[k] += e
            fx = fr * dx
            fy = fr * dy
            fz = fr * dz
            FT[i, 0, k] += fx
            FT[i, 1, k] += fy
            FT[i, 2, k] += fz
            FT[j, 0, k] -= fx
            FT[j, 1, k] -= fy
            FT[j, 2, k] -= fz


@njit(cache=True, error_model="numpy")
def _lane_excess_loop(XT, sref, allow2, live):
    n, _, W = XT.shape
    m = -np.inf
    for i in range(n):
        for k in range(W):
            if live[k]:
                dx = XT[i, 0, k] - sref[i, 0]
                dy = XT[i, 1, k] - sref[i, 1]
                dz = XT[i, 2, k] - sref[i, 2]
                d = dx * dx + dy * dy + dz * dz - allow2[i]
                if d > m or d != d:
                    m = d
                    if m != m:
                        return m
    return m


def _lane_excess(XT, sref, allow2, live):
    """Compiled callers only (dispatched on the array type by the overload below)."""
    raise NotImplementedError


@overload(_lane_excess)
def _lane_excess_impl(XT, sref, allow2, live):
    if not (isinstance(XT, types.Array) and XT.dtype == types.float64):
        return lambda XT, sref, allow2, live: _lane_excess_loop(XT, sref, allow2, live)

    def vec(XT, sref, allow2, live):  # 8-lane vectors (engine.simd) on the C-contiguous layout
        W = XT.shape[2]
        if not (W % VW == 0 and W <= VEC_PASS_LANES and XT.strides[2] == 8 and XT.strides[1] == 8 * W and sref.strides[1] == 8
                and sref.strides[0] == 24 and allow2.strides[0] == 8):
            return _lane_excess_loop(XT, sref, allow2, live)
        out = np.empty(W)
        for b in range(W // VW):
            excess_lanes8(XT, sref, allow2, out, b)
        m = -np.inf
        for k in range(W):
            if live[k] and (out[k] > m or out[k] != out[k]):
                m = out[k]
                if m != m:
                    break
        return m

    return vec


@njit(cache=True, error_model="numpy")
def lane_excess(XT, sref, allow2, live):
    """Largest |x_ki - sref_i|^2 - allow2_i over the live lanes k (> 0 or NaN: the shared list must be rebuilt;
    a NaN anywhere in a live lane gives NaN)."""
    return _lane_excess(XT, sref, allow2, live)


@njit(cache=True, error_model="numpy")
def _lane_copy_out(XT, k, x):
    for i in range(x.shape[0]):
        for d in range(3):
            x[i, d] = XT[i, d, k]


@njit(cache=True, error_model="numpy")
def _lane_copy_in(x, XT, k):
    for i in range(x.shape[0]):
        for d in range(3):
            XT[i, d, k] = x[i, d]


class LaneForces:
    """Energies and forces of the W lanes of XT (N, 3, W) through one shared list (module docstring).

    ``live`` (W,) marks the lanes that matter (padding and finished lanes are computed but ignored and do not
    take part in the allowances).  Counters: n_builds (shared list), n_own_builds (evicted lanes' lists),
    n_calls, n_evicted_calls (lane evaluations on an own list).  ``dtype`` float32: XT, FT and ET are float32
    and the shared list is evaluated by :func:`band_energy_forces_shared32` (an evicted lane still in double
    precision, its result rounded to float32)."""

    def __init__(self, diameters, box, width: int, margin: float = 0.15, max_allow: float = 0.6,
                 own_skin: float = 0.3, dtype=np.float64):
        from . import as_box

        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"lane dtype must be float64 or float32, got {self.dtype}")

        self.diam = np.ascontiguousarray(diameters, np.float64)
        self.box = as_box(box)
        self.n = self.diam.size
        self.W = int(width)
        self.margin = float(margin)
        # a listed pair's reference distance must stay below half the box (minimum image of the build)
        half = 0.5 * float(self.box.min()) - RC * float(self.diam.max())
        self.max_allow = float(min(max_allow, 0.45 * half))
        self.own_skin = float(own_skin)
        self.sref = np.zeros((self.n, 3))
        self.allow2 = np.full(self.n, -1.0)  # < 0: no shared list yet
        self.slist = None
        self.evicted = np.zeros(self.W, np.bool_)
        self.own = {}  # lane -> (list, xref)
        self.n_builds = self.n_own_builds = self.n_calls = self.n_evicted_calls = 0
        self._x = np.empty((self.n, 3))
        self._f = np.empty((self.n, 3))

    def invalidate_lane(self, k: int):
        """Lane k now holds another configuration: forget its own list (the shared list checks itself)."""
        self.own.pop(k, None)

    def _rebuild(self, XT, live):
        lanes = np.flatnonzero(live)
        Y = np.transpose(XT[:, :, lanes], (2, 0, 1))  # (L, N, 3)
        fin = np.all(np.isfinite(Y.reshape(len(lanes), -1)), axis=1)
        keep = list(lanes[fin])
        evicted = set(lanes[~fin].tolist())
        while keep:
            Z = np.transpose(XT[:, :, keep], (2, 0, 1))
            ref = 0.5 * (Z.min(axis=0) + Z.max(axis=0)).astype(np.float64)
            dist = np.sqrt(np.sum((Z - ref) ** 2, axis=2))  # (L, N)
            allow = dist.max(axis=0) + 0.5 * self.margin
            if allow.max() <= self.max_allow:
                break
            if len(keep) == 1:  # even alone too spread for the shared list
                evicted.add(keep.pop())
                break
            med = np.median(Z, axis=0)
            far = np.sqrt(np.sum((Z - med) ** 2, axis=2)).max(axis=1)
            evicted.add(keep.pop(int(np.argmax(far))))
        self.evicted[:] = False
        for k in evicted:
            self.evicted[k] = True
        if keep:
            pi, pj, ps, sh, m = build_pairs(np.ascontiguousarray(ref), self.diam, self.box, 2.0 * float(allow.max()),
                                            12 * self.n)
            self.slist = canonical_pairs(np.ascontiguousarray(ref), self.box, pi, pj, ps, sh, m, self.n, allow)
            if self.dtype == np.float32:
                pi, pj, ps, sh, m = self.slist
                self.slist = (pi, pj, ps.astype(np.float32), sh.astype(np.float32), m)
            self.sref[:] = ref
            self.allow2[:] = allow ** 2
            self.n_builds += 1
        else:
            self.slist = None
            self.allow2[:] = -1.0

    def __call__(self, XT, FT, ET, live):
        """Fill ET (W,) and FT (N, 3, W) for the positions XT; rebuild the shared list when a live lane left its
        allowance."""
        self.n_calls += 1
        shared = live & ~self.evicted
        if self.slist is None or not lane_excess(XT, self.sref, self.allow2, shared) <= 0.0:
            self._rebuild(XT, live)
        if self.slist is not None:
            pi, pj, ps, sh, m = self.slist
            if self.dtype == np.float32:
                band_energy_forces_shared32(XT, pi, pj, ps, sh, m, ET, FT)
            else:
                band_energy_forces_shared(XT, pi, pj, ps, sh, m, ET, FT)
        for k in np.flatnonzero(live & self.evicted):
            self._own_call(XT, FT, ET, int(k))

    def _own_call(self, XT, FT, ET, k):
        x, f = self._x, self._f
        _lane_copy_out(XT, k, x)
        nl = self.own.get(k)
        if nl is None or not max_disp2(x, nl[1]) <= 0.25 * self.own_skin ** 2:
            if np.all(np.isfinite(x)):
                nl = (canonical_list(x, self.diam, self.box, self.own_skin), x.copy())
                self.own[k] = nl
                self.n_own_builds += 1
            else:
                nl = None
        if nl is None:
            ET[k] = np.nan
            FT[:, :, k] = np.nan
            return
        pi, pj, ps, sh, m = nl[0]
        ET[k] = energy_forces(x, self.box, pi, pj, ps, sh, m, f)
        _lane_copy_in(f, FT, k)
        self.n_evicted_calls += 1


def lane_energy_forces(X, diam, box, margin: float = 0.15, max_allow: float = 0.6):
    """Energies E (L,) and forces F (L, N, 3) of L configurations X (L, N, 3) of one system, in lanes (a plain
    entry for other callers; each call builds its list, so it is for occasional use, not a loop)."""
    X = np.asarray(X, np.float64)
    if X.ndim != 3 or X.shape[2] != 3 or X.shape[1] != len(diam):
        raise ValueError(f"configurations must have shape (L, {len(diam)}, 3), got {X.shape}")
    L = X.shape[0]
    W = lane_width(L)
    XT = np.empty((X.shape[1], 3, W))
    XT[:, :, :L] = np.transpose(X, (1, 2, 0))
    XT[:, :, L:] = XT[:, :, L - 1: L]
    FT = np.empty_like(XT)
    ET = np.empty(W)
    live = np.zeros(W, np.bool_)
    live[:L] = True
    LaneForces(diam, box, W, margin=margin, max_allow=max_allow)(XT, FT, ET, live)
    return ET[:L].copy(), np.ascontiguousarray(np.transpose(FT[:, :, :L], (2, 0, 1)))


# ------------------------------------------------------------------------------------------------------ MD
@njit(cache=True, error_model="numpy")
def _kick_drift(XT, VT, FT, hdt, dt):
    """v += dt/2 f; x += dt v, element by element (run_md's first loop in NVE)."""
    xf = XT.reshape(-1)
    vf = VT.reshape(-1)
    ff = FT.reshape(-1)
    for a in range(xf.size):
        vf[a] += hdt * ff[a]
        xf[a] += dt * vf[a]


@njit(cache=True, error_model="numpy")
def _kick(VT, FT, hdt):
    vf = VT.reshape(-1)
    ff = FT.reshape(-1)
    for a in range(vf.size):
        vf[a] += hdt * ff[a]


@njit(cache=True, error_model="numpy")
def lane_kinetic(VT, out):
    """Kinetic energy of each lane, summed in the order of :func:`tlspipe.engine.md.kinetic`."""
    n, _, W = VT.shape
    for k in range(W):
        s = 0.0
        for i in range(n):
            s += VT[i, 0, k] * VT[i, 0, k] + VT[i, 1, k] * VT[i, 1, k] + VT[i, 2, k] * VT[i, 2, k]
        out[k] = 0.5 * s


class LaneMD:
    """NVE velocity Verlet of L configurations (positions X (L, N, 3), velocities V) of one system in lanes."""

    def __init__(self, X, V, diameters, box, margin: float = 0.15, max_allow: float = 0.6):
        from . import as_box, check_system

        X = np.asarray(X, np.float64)
        V = np.asarray(V, np.float64)
        self.L, self.n = X.shape[0], X.shape[1]
        self.box = as_box(box)
        self.diam = np.ascontiguousarray(diameters, np.float64)
        for x in X:
            check_system(x, self.diam, self.box)
        self.W = lane_width(self.L)
        self.XT = np.empty((self.n, 3, self.W))
        self.VT = np.zeros((self.n, 3, self.W))
        self.XT[:, :, : self.L] = np.transpose(X, (1, 2, 0))
        self.XT[:, :, self.L:] = self.XT[:, :, self.L - 1: self.L]
        self.VT[:, :, : self.L] = np.transpose(V, (1, 2, 0))
        self.FT = np.empty_like(self.XT)
        self.ET = np.empty(self.W)
        self.live = np.zeros(self.W, np.bool_)
        self.live[: self.L] = True
        self.forces = LaneForces(self.diam, self.box, self.W, margin=margin, max_allow=max_allow)
        self.forces(self.XT, self.FT, self.ET, self.live)
        self.time = 0.0

    def run(self, n_steps: int, dt: float = 0.01):
        hdt = 0.5 * dt
        for _ in range(int(n_steps)):
            _kick_drift(self.XT, self.VT, self.FT, hdt, dt)
            self.forces(self.XT, self.FT, self.ET, self.live)
            _kick(self.VT, self.FT, hdt)
        self.time += n_steps * dt

    def positions(self, k: int) -> np.ndarray:
        return np.ascontiguousarray(self.XT[:, :, k])

    def velocities(self, k: int) -> np.ndarray:
        return np.ascontiguousarray(self.VT[:, :, k])

    @property
    def epot(self) -> np.ndarray:
        return self.ET[: self.L].copy()

    @property
    def ekin(self) -> np.ndarray:
        out = np.empty(self.W)
        lane_kinetic(self.VT, out)
        return out[: self.L]


# ---------------------------------------------------------------------------------------------------- FIRE
# lane states
FREE, FRESH, ACTIVE = 0, 1, 2


@njit(cache=True, inline="always", error_model="numpy")
def _lanes_begin(state, moved, done, fm, step, ftol, max_steps, P):
    """Which lanes move this step (minimise._fire's while test); a lane whose loop ends is marked done."""
    for k in range(state.size):
        moved[k] = False
        if state[k] == 2 and not (fm[k] >= ftol[k] and step[k] < max_steps and np.isfinite(fm[k])):
            done[k] = True
        elif state[k] == 2:
            moved[k] = True
        P[k] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _lanes_power_rule(moved, done, P, n_pos, n_neg, dt, alpha, step, dt_max, dt_min, n_delay, f_inc, f_dec,
                      alpha0, f_alpha, max_uphill, up, C, H, A, VV, FF):
    """FIRE's response to the power P = F.v of each moving lane (time step, mixing, the uphill flag up and its
    half step back C), then H = dt, A = alpha of the moving lanes (0 for the others) and VV = FF = 0."""
    for k in range(moved.size):
        up[k] = False
        if not moved[k]:
            continue
        if P[k] > 0.0:
            n_pos[k] += 1
            n_neg[k] = 0
            if n_pos[k] > n_delay:
                dt[k] = min(dt[k] * f_inc, dt_max)
                alpha[k] *= f_alpha
        else:
            n_pos[k] = 0
            n_neg[k] += 1
            if n_neg[k] > max_uphill:
                done[k] = True
                moved[k] = False
                continue
            up[k] = True
            C[k] = 0.5 * dt[k]  # the half step back, with the time step before it changes
            if step[k] >= n_delay:
                if dt[k] * f_dec >= dt_min:
                    dt[k] *= f_dec
                alpha[k] = alpha0
        H[k] = dt[k]
        A[k] = alpha[k]
    for k in range(moved.size):
        VV[k] = 0.0
        FF[k] = 0.0
        if not moved[k]:
            H[k] = 0.0
            A[k] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _lanes_mix_rule(moved, VV, FF, A, mix, C, P, VM):
    """The mixing coefficients of each lane: v = P v + C F where mix; VM = 0 (the largest speed to come)."""
    for k in range(moved.size):
        mix[k] = moved[k] and FF[k] > 0.0
        C[k] = A[k] * np.sqrt(VV[k] / FF[k]) if mix[k] else 0.0
        P[k] = 1.0 - A[k]
        VM[k] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _lanes_cap_rule(moved, H, VM, max_move, cap, C):
    """The speed cap of each lane: v *= C where cap (no particle moves more than max_move)."""
    for k in range(moved.size):
        cap[k] = moved[k] and H[k] * np.sqrt(VM[k]) > max_move
        C[k] = max_move / (H[k] * np.sqrt(VM[k])) if cap[k] else 1.0


@njit(cache=True, error_model="numpy")
def _fire_pre(XT, VT, FT, state, moved, done, fm, dt, alpha, n_pos, n_neg, step, ftol, max_steps, dt_max, dt_min,
              n_delay, f_inc, f_dec, alpha0, f_alpha, max_uphill, max_move, P, C, H, A, VV, FF, VM, up, mix, cap):
    """One FIRE step up to the new positions, in every ACTIVE lane, as minimise._fire does it; a lane whose
    loop ends (converged, out of steps, not finite, too many uphill steps) is marked done instead.

    Every pass runs over the particles with the lanes innermost (vectorised by the compiler; any dtype and
    width, e.g. the float32 lanes of MixedLaneFIRE); per lane, each sum is taken over the particles and
    components in minimise._fire's order and each element sees the same operations, so a lane's step is that
    of the single descent bit for bit.  Lanes that do not move are left as they are by a select.
    P, C, H, A, VV, FF, VM: float64 scratch (W,); up, mix, cap: bool scratch (W,)."""
    n, _, W = XT.shape
    _lanes_begin(state, moved, done, fm, step, ftol, max_steps, P)
    for i in range(n):
        for d in range(3):
            for k in range(W):
                P[k] += FT[i, d, k] * VT[i, d, k]
    _lanes_power_rule(moved, done, P, n_pos, n_neg, dt, alpha, step, dt_max, dt_min, n_delay, f_inc, f_dec, alpha0,
                      f_alpha, max_uphill, up, C, H, A, VV, FF)
    # the half step back of uphill lanes, then the semi-implicit Euler velocity and the two sums (fused: per
    # element the same operations in the same order)
    for i in range(n):
        for d in range(3):
            for k in range(W):
                x = XT[i, d, k]
                v = VT[i, d, k]
                xn = x - C[k] * v
                x = xn if up[k] else x
                v = 0.0 if up[k] else v
                vn = v + H[k] * FT[i, d, k]
                v = vn if moved[k] else v
                XT[i, d, k] = x
                VT[i, d, k] = v
                VV[k] += vn * vn
                FF[k] += FT[i, d, k] * FT[i, d, k]
    _lanes_mix_rule(moved, VV, FF, A, mix, C, P, VM)
    # FIRE mixing, then the largest speed
    for i in range(n):
        for k in range(W):
            v0 = VT[i, 0, k]
            v1 = VT[i, 1, k]
            v2 = VT[i, 2, k]
            m0 = P[k] * v0 + C[k] * FT[i, 0, k]
            m1 = P[k] * v1 + C[k] * FT[i, 1, k]
            m2 = P[k] * v2 + C[k] * FT[i, 2, k]
            v0 = m0 if mix[k] else v0
            v1 = m1 if mix[k] else v1
            v2 = m2 if mix[k] else v2
            VT[i, 0, k] = v0
            VT[i, 1, k] = v1
            VT[i, 2, k] = v2
            b = v0 * v0 + v1 * v1 + v2 * v2
            VM[k] = b if b > VM[k] else VM[k]
    _lanes_cap_rule(moved, H, VM, max_move, cap, C)
    # the speed cap, then the new positions
    for i in range(n):
        for d in range(3):
            for k in range(W):
                v = VT[i, d, k]
                vn = v * C[k]
                v = vn if cap[k] else v
                VT[i, d, k] = v
                xn = XT[i, d, k] + H[k] * v
                XT[i, d, k] = xn if moved[k] else XT[i, d, k]


@njit(cache=True, error_model="numpy")
def _fire_pre8(XT, VT, FT, state, moved, done, fm, dt, alpha, n_pos, n_neg, step, ftol, max_steps, dt_max, dt_min,
               n_delay, f_inc, f_dec, alpha0, f_alpha, max_uphill, max_move, P, C, H, A, VV, FF, VM, up, mix, cap):
    """:func:`_fire_pre` with its four passes over the particles as explicit 8-lane vectors
    (:mod:`tlspipe.engine.simd`; the same operations in the same order, so the same bits, 3-5x faster at 16
    lanes); float64 C-contiguous (N, 3, W) arrays, W a multiple of 8."""
    nb = XT.shape[2] // VW
    _lanes_begin(state, moved, done, fm, step, ftol, max_steps, P)
    for b in range(nb):
        fire_power8(FT, VT, P, b)
    _lanes_power_rule(moved, done, P, n_pos, n_neg, dt, alpha, step, dt_max, dt_min, n_delay, f_inc, f_dec, alpha0,
                      f_alpha, max_uphill, up, C, H, A, VV, FF)
    for b in range(nb):
        fire_euler8(XT, VT, FT, C, H, up, moved, VV, FF, b)
    _lanes_mix_rule(moved, VV, FF, A, mix, C, P, VM)
    for b in range(nb):
        fire_mix8(VT, FT, P, C, mix, VM, b)
    _lanes_cap_rule(moved, H, VM, max_move, cap, C)
    for b in range(nb):
        fire_move8(XT, VT, C, H, cap, moved, b)


@njit(cache=True, error_model="numpy")
def _lane_norm2_max_loop(FT, out):
    n, _, W = FT.shape
    for k in range(W):
        out[k] = 0.0
    for i in range(n):
        for k in range(W):
            d = FT[i, 0, k] * FT[i, 0, k] + FT[i, 1, k] * FT[i, 1, k] + FT[i, 2, k] * FT[i, 2, k]
            out[k] = d if (d > out[k] or d != d) else out[k]  # a NaN force sticks (never "converged")


def _lane_norm2_max(FT, out):
    """Compiled callers only (dispatched on the array type by the overload below)."""
    raise NotImplementedError


@overload(_lane_norm2_max)
def _lane_norm2_max_impl(FT, out):
    if not (isinstance(FT, types.Array) and FT.dtype == types.float64):
        return lambda FT, out: _lane_norm2_max_loop(FT, out)

    def vec(FT, out):
        W = FT.shape[2]
        if not (W % VW == 0 and W <= VEC_PASS_LANES and FT.strides[2] == 8 and FT.strides[1] == 8 * W):
            return _lane_norm2_max_loop(FT, out)
        for b in range(W // VW):
            max_norm2_lanes8(FT, out, b)

    return vec


@njit(cache=True, error_model="numpy")
def _lane_max_force(FT, out):
    """max_i |F_i| of every lane (NaN in a lane with a NaN force)."""
    _lane_norm2_max(FT, out)
    for k in range(FT.shape[2]):
        out[k] = np.sqrt(out[k])


@njit(cache=True, error_model="numpy")
def _lane_known(XT, VT, FT, e, k, box, refs, ref_e, n_ref, ref_order, order, exit_energy, exit_distance,
                exit_harmonic):
    """minimise._known_minimum for lane k (the same tests in the same order), over the known minima j with
    ref_order[j] < order (when ref_order is not empty)."""
    n = XT.shape[0]
    kin = -1.0
    ordered = ref_order.size > 0
    for j in range(n_ref):
        if ordered and ref_order[j] >= order:
            continue
        if e <= ref_e[j] or e - ref_e[j] > exit_energy:
            continue
        if kin < 0.0:
            kin = 0.0
            for i in range(n):
                kin += VT[i, 0, k] * VT[i, 0, k] + VT[i, 1, k] * VT[i, 1, k] + VT[i, 2, k] * VT[i, 2, k]
            kin *= 0.5
        h = e + kin - ref_e[j]
        if h > exit_energy:
            continue
        m = refs[j]
        r2max = exit_distance * exit_distance
        fd = 0.0
        far = False
        for i in range(n):
            r2 = 0.0
            for d in range(3):
                q = XT[i, d, k] - m[i, d]
                q = min_image(q, box[d])
                r2 += q * q
                fd += FT[i, d, k] * q
            if r2 > r2max:
                far = True
                break
        if far:
            continue
        if abs(-fd / (2.0 * (e - ref_e[j])) - 1.0) <= exit_harmonic:
            return j
    return -1


@njit(cache=True, error_model="numpy")
def _fire_post(XT, VT, FT, ET, state, moved, e, fm, step, hit, done, box, refs, ref_e, n_ref, ref_order, order,
               ftol, max_steps, exit_energy, exit_distance, exit_harmonic, FM):
    """After the force call: FRESH lanes take their first forces; moved lanes count the step and test the
    early stop; a lane whose loop condition now fails (minimise._fire's while test) is marked done."""
    _lane_max_force(FT, FM)
    for k in range(XT.shape[2]):
        if state[k] == 1:
            e[k] = ET[k]
            fm[k] = FM[k]
            state[k] = 2
        elif moved[k]:
            e[k] = ET[k]
            fm[k] = FM[k]
            step[k] += 1
            if n_ref > 0:
                j = _lane_known(XT, VT, FT, ET[k], k, box, refs, ref_e, n_ref, ref_order, order[k], exit_energy,
                                exit_distance, exit_harmonic)
                if j >= 0:
                    hit[k] = j
                    done[k] = True
                    continue
        else:
            continue
        if not (fm[k] >= ftol[k] and step[k] < max_steps and np.isfinite(fm[k])):
            done[k] = True


class LaneFIRE:
    """FIRE 2.0 descents of configurations of one system in W lanes, each lane with its own state.

    ``start(k, x, tag, order)`` puts a configuration in free lane k; ``step(known)`` advances every lane by one FIRE
    step (a fresh lane takes its first forces) and returns the lanes that finished, each as
    (lane, tag, x_final, energy, max_force, n_steps, known_index) (-1: not stopped at a known minimum); the lane
    is then free.  ``known`` = (positions (M, N, 3), total energies (M,), m) or None, as for
    :func:`tlspipe.engine.minimise.fire_minimise`, and may grow between steps; with a fourth member, an int64
    array ``ref_order`` (M,), a lane started with ``order`` o may stop only at the minima j with ref_order[j] < o.
    Other parameters as there.

    The width: float64 lanes run as explicit 8-lane vectors (:mod:`tlspipe.engine.simd`: the force pass and the
    four FIRE passes), efficient from 8 lanes on; at N = 1500, 8 lanes were the fastest exploration (wider ones
    hold more descents in flight, which lose early stops, and their arrays outgrow the core's cache).  float32
    lanes (MixedLaneFIRE) run the compiler's loops, vectorised only from about 24 lanes on."""

    def __init__(self, diameters, box, width: int = 8, ftol: float = 1e-10, max_steps: int = 200_000,
                 exit_energy: float = 0.0, exit_distance: float = 0.0, exit_harmonic: float = 0.0,
                 margin: float = 0.3, max_allow: float = 0.6, dtype=np.float64, **params):
        from . import as_box
        from .minimise import FIRE_DEFAULTS

        p = dict(FIRE_DEFAULTS)
        unknown = set(params) - set(p)
        if unknown:
            raise TypeError(f"unknown FIRE parameters {sorted(unknown)}; known: {sorted(p)}")
        p.update(params)
        self.p = p
        self.diam = np.ascontiguousarray(diameters, np.float64)
        self.box = as_box(box)
        self.n = self.diam.size
        self.W = lane_width(width)
        self.ftol = float(ftol)
        if not np.isfinite(self.ftol):
            raise ValueError("ftol must be finite")
        self.max_steps = int(max_steps)
        self.exit = (float(exit_energy), float(exit_distance), float(exit_harmonic))
        W, n = self.W, self.n
        self.dtype = np.dtype(dtype)
        self.XT = np.zeros((n, 3, W), self.dtype)
        self.VT = np.zeros((n, 3, W), self.dtype)
        self.FT = np.zeros((n, 3, W), self.dtype)
        self.ET = np.zeros(W, self.dtype)
        self.keep_state = False  # True: _collect keeps each finished lane's velocity and FIRE state (handed)
        self.handed = {}
        self.state = np.zeros(W, np.int64)
        self.moved = np.zeros(W, np.bool_)
        self.done = np.zeros(W, np.bool_)
        self.e = np.zeros(W)
        self.fm = np.zeros(W)
        self.dt = np.zeros(W)
        self.alpha = np.zeros(W)
        self.n_pos = np.zeros(W, np.int64)
        self.n_neg = np.zeros(W, np.int64)
        self.steps = np.zeros(W, np.int64)
        self.hit = np.full(W, -1, np.int64)
        self.order = np.zeros(W, np.int64)
        self.lane_ftol = np.full(W, self.ftol)  # each lane's convergence (start(..., ftol=) may set another)
        self.tags = [None] * W
        self._scratch = [np.zeros(W) for _ in range(8)]
        self._masks = [np.zeros(W, np.bool_) for _ in range(3)]
        # the explicit 8-lane vectors (engine.simd) for float64 lanes up to VEC_PASS_LANES; the compiler's loops
        # for float32 and for wider lanes (a vector pass per block of 8 re-reads the arrays once per block)
        self._pre = _fire_pre8 if self.dtype == np.float64 and W <= VEC_PASS_LANES else _fire_pre
        self.forces = LaneForces(self.diam, self.box, W, margin=margin, max_allow=max_allow, dtype=self.dtype)
        self._no_refs = (np.zeros((0, n, 3)), np.zeros(0))
        self._no_order = np.zeros(0, np.int64)
        self.n_steps_total = 0  # lane steps taken (moved lanes summed over calls)
        self.n_calls = 0

    def free_lanes(self):
        return [int(k) for k in np.flatnonzero(self.state == FREE)]

    @property
    def busy(self) -> int:
        return int(np.count_nonzero(self.state != FREE))

    def start(self, k: int, x, tag=None, order: int = 0, state=None, ftol: float | None = None):
        """Put configuration x in free lane k; ``state`` = (velocity (N, 3), dt, alpha, n_pos, n_neg, steps):
        go on with a descent begun elsewhere (its first forces are then computed here).  ``ftol``: this lane's
        convergence (default: the instance's), e.g. the refinement of a new minimum beside the quenches."""
        if self.state[k] != FREE:
            raise ValueError(f"lane {k} is busy")
        x = np.ascontiguousarray(x, np.float64)
        if x.shape != (self.n, 3):
            raise ValueError(f"configuration of shape {x.shape}, expected ({self.n}, 3)")
        if not np.all(np.isfinite(x)):  # as fire_minimise: a blown-up trajectory is an error, not a quench
            from . import NonFiniteError

            raise NonFiniteError("positions contain NaN or inf")
        _lane_copy_in(x, self.XT, k)
        self.VT[:, :, k] = 0.0
        self.state[k] = FRESH
        self.done[k] = False
        self.dt[k] = self.p["dt"]
        self.alpha[k] = self.p["alpha0"]
        self.n_pos[k] = self.n_neg[k] = self.steps[k] = 0
        self.hit[k] = -1
        self.order[k] = order
        self.tags[k] = tag
        self.lane_ftol[k] = self.ftol if ftol is None else float(ftol)
        if state is not None:
            v, self.dt[k], self.alpha[k], self.n_pos[k], self.n_neg[k], self.steps[k] = state
            _lane_copy_in(np.ascontiguousarray(v, np.float64), self.VT, k)
        self.forces.invalidate_lane(k)

    def step(self, known=None):
        p = self.p
        P, C, H, A, VV, FF, VM, FM = self._scratch
        self._pre(self.XT, self.VT, self.FT, self.state, self.moved, self.done, self.fm, self.dt, self.alpha,
                  self.n_pos, self.n_neg, self.steps, self.lane_ftol, self.max_steps, float(p["dt_max"]),
                  float(p["dt_min"]), int(p["n_delay"]), float(p["f_inc"]), float(p["f_dec"]), float(p["alpha0"]),
                  float(p["f_alpha"]), int(p["max_uphill"]), float(p["max_move"]), P, C, H, A, VV, FF, VM, *self._masks)
        out = self._collect()
        compute = (self.state == FRESH) | self.moved
        if compute.any():
            self.forces(self.XT, self.FT, self.ET, compute)
            self.n_calls += 1
            if known is not None and known[2] > 0:
                refs, ref_e, nref = known[0], known[1], int(known[2])
                ref_order = known[3] if len(known) > 3 else self._no_order
            else:
                (refs, ref_e), nref, ref_order = self._no_refs, 0, self._no_order
            _fire_post(self.XT, self.VT, self.FT, self.ET, self.state, self.moved, self.e, self.fm, self.steps,
                       self.hit, self.done, self.box, refs, ref_e, nref, ref_order, self.order, self.lane_ftol,
                       self.max_steps, *self.exit, FM)
            self.n_steps_total += int(np.count_nonzero(self.moved))
            out += self._collect()
        return out

    def _collect(self):
        out = []
        for k in np.flatnonzero(self.done):
            x = np.empty((self.n, 3))
            _lane_copy_out(self.XT, k, x)
            if self.keep_state:
                v = np.empty((self.n, 3))
                _lane_copy_out(self.VT, k, v)
                self.handed[self.tags[k]] = (v, float(self.dt[k]), float(self.alpha[k]), int(self.n_pos[k]),
                                             int(self.n_neg[k]), int(self.steps[k]))
            out.append((int(k), self.tags[k], x, float(self.e[k]), float(self.fm[k]), int(self.steps[k]),
                        int(self.hit[k])))
            self.done[k] = False
            self.state[k] = FREE
            self.tags[k] = None
        return out

    def run(self, configurations, known=None):
        """Descend every configuration (an iterable of (N, 3)), W at a time with refill.  Returns a list of
        (x_final, energy, max_force, n_steps, known_index) in input order."""
        todo = list(enumerate(configurations))
        todo.reverse()
        res = {}
        while todo or self.busy:
            for k in self.free_lanes():
                if not todo:
                    break
                i, x = todo.pop()
                self.start(k, x, tag=i)
            for _, i, x, e, fm, st, hit in self.step(known):
                res[i] = (x, e, fm, st, hit)
        return [res[i] for i in range(len(res))]


LOW_SHARE = 0.375  # of the lanes in flight, the float32 stage's share (MixedLaneFIRE)


class MixedLaneFIRE:
    """FIRE descents in lanes, the bulk in single precision and the end in double (``precision="mixed"``).

    A descent starts in a float32 stage (:class:`LaneFIRE` with ``dtype=float32``: positions, velocities and
    forces in float32, :func:`band_energy_forces_shared32`, no early stop) until max_i |F_i| < ``switch_force``
    (well above the float32 noise floor, ~1e-4 at N = 1500), and goes on with its velocity and FIRE state
    (dt, alpha, the up- and downhill counts, the step count) in a float64 stage, the arithmetic of today's lanes:
    the convergence test, the early stop at a known minimum and the final minimum are double precision as
    there.  The descent is not the double-precision one step for step (the float32 part rounds differently), so
    a snapshot on a basin boundary may end elsewhere: ``benchmarks/explore.py`` counts the agreement.  The two
    stages share the ``width`` lanes in flight: ``width_low`` (default 5/8 of them, a multiple of 8) in float32,
    the rest in float64; a descent that reaches the switch while the float64 stage is full waits (no new
    descent starts meanwhile).  The interface of :class:`LaneFIRE` (start, step, free_lanes, busy, run)."""

    def __init__(self, diameters, box, width: int = 64, ftol: float = 1e-10, switch_force: float = 1e-2,
                 width_low: int | None = None, max_steps: int = 200_000, **kw):
        width = lane_width(width)
        if width_low is None:
            width_low = 8 * max(1, int(round(width * LOW_SHARE / 8)))
        width_low = lane_width(width_low)
        width_high = max(8, width - width_low)
        if not (np.isfinite(switch_force) and switch_force > ftol):
            raise ValueError(f"switch_force ({switch_force}) must be finite and above ftol ({ftol})")
        fire_kw = {k: v for k, v in kw.items() if k not in ("exit_energy", "exit_distance", "exit_harmonic")}
        self.low = LaneFIRE(diameters, box, width=width_low, ftol=switch_force, max_steps=max_steps,
                            dtype=np.float32, **fire_kw)
        self.low.keep_state = True
        self.high = LaneFIRE(diameters, box, width=width_high, ftol=ftol, max_steps=max_steps, **kw)
        self.W = self.low.W + self.high.W
        self.pending = []  # (tag, x, order, state) waiting for a float64 lane
        self.orders = {}

    def free_lanes(self):
        return [] if self.pending else self.low.free_lanes()

    @property
    def busy(self) -> int:
        return self.low.busy + self.high.busy + len(self.pending)

    @property
    def n_steps_total(self) -> int:
        return self.low.n_steps_total + self.high.n_steps_total

    def start(self, k: int, x, tag=None, order: int = 0):
        self.orders[tag] = order
        self.low.start(k, x, tag=tag, order=order)

    def _feed(self):
        for lane in self.high.free_lanes():
            if not self.pending:
                break
            tag, x, order, state = self.pending.pop(0)
            self.high.start(lane, x, tag=tag, order=order, state=state)

    def step(self, known=None):
        for _, tag, x, _, _, _, _ in self.low.step(None):
            self.pending.append((tag, x, self.orders.pop(tag), self.low.handed.pop(tag)))
        self._feed()
        out = self.high.step(known) if self.high.busy else []
        self._feed()
        return out

    run = LaneFIRE.run
