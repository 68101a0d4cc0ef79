"""Native multi-species Lennard-Jones (LAMMPS ``pair_style lj/cut`` and ``lj/smooth/linear``), compiled with numba.

Per type pair (a, b): epsilon, sigma and cutoff r_c from the model's ``pair_coeff`` lines, and with
``pair_modify shift yes`` the energy shifted to zero at r_c, exactly as LAMMPS ``lj/cut`` computes it::

    v(r) = 4 eps [(s/r)^12 - (s/r)^6] - shift_ab      for r < r_c(a, b), else 0

``lj/smooth/linear`` (the force-shifted potential: energy and force both go to zero at r_c) as LAMMPS computes
it, with u(r) = 4 eps [(s/r)^12 - (s/r)^6]::

    v(r) = u(r) - u(r_c) - (r - r_c) u'(r_c)          for r < r_c(a, b), else 0

Its force is continuous at the cutoff, where ``lj/cut``'s jumps by |u'(r_c)| (0.039 eps/sigma for r_c = 2.5
sigma): a path whose images straddle a cutoff then has forces no NEB can bring below that jump, so the
force-shifted form is the one for minimum-energy paths (config/models/kob-andersen-sf.yaml).

This covers Kob-Andersen (80:20, AA 1/1, AB 1.5/0.8, BB 0.5/0.88, r_c = 2.5 s_ab) and its ternary and
other multi-component variants.  Only what is certain to match LAMMPS runs natively: every type pair
a <= b must be set by a pair_coeff line (LAMMPS would otherwise mix them), and pair_modify may only say
``shift yes|no`` (or ``mix ...``, which then changes nothing); any other lj/cut file runs through the
LAMMPS backend instead (:func:`lj_params` says why).

Neighbour list: a half Verlet list of the pairs within r_c(a, b) + skin at build time, found with a cell list
(cells at least r_c,max + skin wide; all pairs when the box holds fewer than three cells a side).  Every
listed pair carries its periodic shift and its type-pair code, so the force loop does no rounding and no
type lookup beyond one table index; the list is rebuilt when a particle moved more than skin/2.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..models import Model, ModelError, type_range


class LJParams:
    """Flattened per-type-pair tables (index a * nt + b, types 0-based): 4 eps, sigma^2, r_c^2, and ``esh``
    (n_pairs, 3): energy shift u(r_c) (or 0), force shift u'(r_c) (lj/smooth/linear, else 0) and r_c."""

    def __init__(self, eps, sig, rc, shift: bool, linear: bool = False):
        self.eps = np.asarray(eps, np.float64)
        self.sig = np.asarray(sig, np.float64)
        self.rc = np.asarray(rc, np.float64)
        self.n_types = self.eps.shape[0]
        self.shift = bool(shift)
        sr6 = (self.sig / self.rc) ** 6
        self.e4 = (4.0 * self.eps).ravel().copy()
        self.s2 = (self.sig**2).ravel().copy()
        self.rc2 = (self.rc**2).ravel().copy()
        self.linear = bool(linear)
        e0 = (4.0 * self.eps * (sr6 * sr6 - sr6)).ravel() if (shift or linear) else np.zeros(self.eps.size)
        # u'(r_c) = -4 eps (12 sr6^2 - 6 sr6) / r_c
        d0 = (-4.0 * self.eps * (12.0 * sr6 * sr6 - 6.0 * sr6) / self.rc).ravel() if linear else np.zeros(self.eps.size)
        self.esh = np.ascontiguousarray(np.stack([e0, d0, self.rc.ravel()], axis=1))

    @property
    def max_cutoff(self) -> float:
        return float(self.rc.max())


def lj_params(m: Model, n_types: int):
    """(LJParams, None) when the native family computes model ``m`` with ``n_types`` atom types exactly as
    LAMMPS does, else (None, the reason)."""
    toks = m.pair_style.split()
    if toks[0] not in ("lj/cut", "lj/smooth/linear"):
        return None, f"pair_style {toks[0]} is not lj/cut or lj/smooth/linear"
    linear = toks[0] == "lj/smooth/linear"
    if len(toks) != 2:
        return None, f"pair_style {toks[0]} takes exactly one global cutoff here"
    try:
        rc_global = float(toks[1])
    except ValueError:
        raise ModelError(f"{m.source}: pair_style '{m.pair_style}': the cutoff is not a number") from None
    shift = False
    for line in m.pair_modify:
        w = line.split()
        if len(w) == 2 and w[0] == "shift" and w[1] in ("yes", "no") and not linear:
            shift = w[1] == "yes"
        elif w and w[0] == "mix" and len(w) == 2:
            pass  # every pair is set explicitly below, so mixing does not apply
        else:
            return None, f"pair_modify '{line}' is not implemented natively"
    nt = n_types
    eps = np.full((nt, nt), np.nan)
    sig = np.full((nt, nt), np.nan)
    rc = np.full((nt, nt), np.nan)
    for line in m.pair_coeff:
        w = line.split()
        if len(w) not in (4, 5):
            raise ModelError(f"{m.source}: pair_coeff '{line}' for {toks[0]} must be 'I J epsilon sigma [cutoff]'")
        ilo, ihi = type_range(w[0], nt, m.source, f"pair_coeff '{line}'")
        jlo, jhi = type_range(w[1], nt, m.source, f"pair_coeff '{line}'")
        try:
            e, s = float(w[2]), float(w[3])
            c = float(w[4]) if len(w) == 5 else rc_global
        except ValueError:
            raise ModelError(f"{m.source}: pair_coeff '{line}': coefficients must be numbers") from None
        n_set = 0
        for i in range(ilo, ihi + 1):  # LAMMPS sets j >= i only
            for j in range(max(jlo, i), jhi + 1):
                eps[i - 1, j - 1] = eps[j - 1, i - 1] = e
                sig[i - 1, j - 1] = sig[j - 1, i - 1] = s
                rc[i - 1, j - 1] = rc[j - 1, i - 1] = c
                n_set += 1
        if n_set == 0:
            raise ModelError(f"{m.source}: pair_coeff '{line}' sets no pair (LAMMPS needs I <= J)")
    unset = [(a + 1, b + 1) for a in range(nt) for b in range(a, nt) if not np.isfinite(eps[a, b])]
    if unset:
        return None, f"type pairs {unset} have no pair_coeff line (LAMMPS would mix them)"
    if np.any(sig <= 0) or np.any(rc <= 0):
        raise ModelError(f"{m.source}: {toks[0]} sigma and cutoff must be positive")
    return LJParams(eps, sig, rc, shift, linear), None


# ----------------------------------------------------------------------------- kernels
@njit(cache=True, error_model="numpy")
def _store(i, j, d0, d1, d2, box, c, pi, pj, pc, sh, npairs):
    """Pair (i, j), i < j, with shift = raw separation - minimum image separation."""
    pi[npairs] = i
    pj[npairs] = j
    pc[npairs] = c
    sh[npairs, 0] = box[0] * np.floor(d0 / box[0] + 0.5)
    sh[npairs, 1] = box[1] * np.floor(d1 / box[1] + 0.5)
    sh[npairs, 2] = box[2] * np.floor(d2 / box[2] + 0.5)
    return npairs + 1


@njit(cache=True, inline="always", error_model="numpy")
def _try_pair(i, j, x, types, nt, box, rl2, pi, pj, pc, sh, npairs, cap):
    """List pair (i, j) when its minimum-image distance is within its list range; the new count, or -1 when
    the arrays are full."""
    d0 = x[i, 0] - x[j, 0]
    d1 = x[i, 1] - x[j, 1]
    d2 = x[i, 2] - x[j, 2]
    m0 = d0 - box[0] * np.floor(d0 / box[0] + 0.5)
    m1 = d1 - box[1] * np.floor(d1 / box[1] + 0.5)
    m2 = d2 - box[2] * np.floor(d2 / box[2] + 0.5)
    c = types[i] * nt + types[j]
    if m0 * m0 + m1 * m1 + m2 * m2 < rl2[c]:
        if npairs == cap:
            return -1
        return _store(i, j, d0, d1, d2, box, c, pi, pj, pc, sh, npairs)
    return npairs


@njit(cache=True, error_model="numpy")
def lj_fill(x, types, nt, box, rl2, rlmax, pi, pj, pc, sh):
    """Fill the half list (pairs with r^2 < rl2[type pair]); the pair count, or -1 when the arrays are short."""
    n = x.shape[0]
    cap = pi.size
    npairs = 0
    nc0 = int(box[0] / rlmax)
    nc1 = int(box[1] / rlmax)
    nc2 = int(box[2] / rlmax)
    if nc0 < 3 or nc1 < 3 or nc2 < 3:
        for i in range(n):
            for j in range(i + 1, n):
                npairs = _try_pair(i, j, x, types, nt, box, rl2, pi, pj, pc, sh, npairs, cap)
                if npairs < 0:
                    return -1
        return npairs
    ncell = nc0 * nc1 * nc2
    head = np.full(ncell, -1, np.int64)
    nxt = np.empty(n, np.int64)
    cidx = np.empty((n, 3), np.int64)
    for i in range(n):
        k = np.empty(3, np.int64)
        for d, nc in ((0, nc0), (1, nc1), (2, nc2)):
            u = x[i, d] / box[d]
            u -= np.floor(u)
            kk = int(u * nc) if np.isfinite(u) else 0
            k[d] = min(max(kk, 0), nc - 1)
        cidx[i, 0], cidx[i, 1], cidx[i, 2] = k[0], k[1], k[2]
        c = (k[0] * nc1 + k[1]) * nc2 + k[2]
        nxt[i] = head[c]
        head[c] = i
    for i in range(n):
        for a in range(-1, 2):
            t0 = (cidx[i, 0] + a) % nc0
            for b in range(-1, 2):
                t1 = (cidx[i, 1] + b) % nc1
                for g in range(-1, 2):
                    t2 = (cidx[i, 2] + g) % nc2
                    j = head[(t0 * nc1 + t1) * nc2 + t2]
                    while j >= 0:
                        if j > i:
                            npairs = _try_pair(i, j, x, types, nt, box, rl2, pi, pj, pc, sh, npairs, cap)
                            if npairs < 0:
                                return -1
                        j = nxt[j]
    return npairs


@njit(cache=True, error_model="numpy")
def lj_energy_forces(x, pi, pj, pc, sh, npairs, e4, s2, rc2, esh, f):
    """Total energy; forces into f (N, 3).  Per pair: s6 = (s^2/r^2)^3, v = 4eps (s6^2 - s6) - esh[c, 0],
    -(dv/dr)/r = 4eps (12 s6^2 - 6 s6) / r^2; with a force shift D = esh[c, 1] != 0 (lj/smooth/linear) also
    v -= (r - r_c) D and -(dv/dr)/r += D / r (a branch the same way for every pair of a model)."""
    xf = x.reshape(-1)
    sf = sh.reshape(-1)
    ff = f.reshape(-1)
    for k in range(ff.size):
        ff[k] = 0.0
    e = 0.0
    for p in range(npairs):
        i = 3 * np.uint32(pi[p])
        j = 3 * np.uint32(pj[p])
        c = pc[p]
        dx = xf[i] - xf[j] - sf[3 * p]
        dy = xf[i + 1] - xf[j + 1] - sf[3 * p + 1]
        dz = xf[i + 2] - xf[j + 2] - sf[3 * p + 2]
        r2 = dx * dx + dy * dy + dz * dz
        # no branch: a listed pair beyond its cutoff contributes an exact 0 (about 20% faster than an `if`,
        # whose outcome is random for the ~30% of listed pairs in the skin)
        inside = r2 < rc2[c]
        ir2 = 1.0 / r2
        s6 = s2[c] * ir2
        s6 = s6 * s6 * s6
        ep = e4[c] * (s6 * s6 - s6) - esh[c, 0]
        fr = e4[c] * (12.0 * s6 * s6 - 6.0 * s6) * ir2
        dsh = esh[c, 1]
        if dsh != 0.0:
            r = np.sqrt(r2)
            ep -= (r - esh[c, 2]) * dsh
            fr += dsh / r
        e += ep if inside else 0.0
        fr = fr if inside else 0.0
        fx = fr * dx
        fy = fr * dy
        fz = fr * dz
        ff[i] += fx
        ff[i + 1] += fy
        ff[i + 2] += fz
        ff[j] -= fx
        ff[j + 1] -= fy
        ff[j + 2] -= fz
    return e


@njit(cache=True, error_model="numpy")
def _max_disp2(x, xref):
    m = 0.0
    for i in range(x.shape[0]):
        d = (x[i, 0] - xref[i, 0]) ** 2 + (x[i, 1] - xref[i, 1]) ** 2 + (x[i, 2] - xref[i, 2]) ** 2
        if not d <= m:
            m = d
    return m


class LJList:
    """One configuration's Verlet list and force call (see the module docstring)."""

    def __init__(self, params: LJParams, types0, box, skin: float):
        self.p = params
        self.types = np.ascontiguousarray(types0, np.int64)
        self.box = np.asarray(box, np.float64)
        self.skin = float(skin)
        rl = params.rc + self.skin
        self.rl2 = (rl**2).ravel().copy()
        self.rlmax = float(rl.max())
        n = self.types.size
        cap = max(64, 40 * n)
        self._alloc(cap)
        self.npairs = -1
        self.xref = np.zeros((n, 3))
        self.n_builds = 0

    def _alloc(self, cap):
        self.pi = np.empty(cap, np.int32)
        self.pj = np.empty(cap, np.int32)
        self.pc = np.empty(cap, np.int64)
        self.sh = np.empty((cap, 3), np.float64)

    def build(self, x):
        while True:
            m = lj_fill(x, self.types, self.p.n_types, self.box, self.rl2, self.rlmax, self.pi, self.pj, self.pc,
                        self.sh)
            if m >= 0:
                break
            self._alloc(2 * self.pi.size)
        self.npairs = m
        self.xref[:] = x
        self.n_builds += 1

    def energy_forces(self, x, f):
        if self.npairs < 0 or _max_disp2(x, self.xref) > 0.25 * self.skin * self.skin:
            self.build(x)
        p = self.p
        return lj_energy_forces(x, self.pi, self.pj, self.pc, self.sh, self.npairs, p.e4, p.s2, p.rc2, p.esh, f)
