"""Compiled kernels: Verlet neighbour list and energy/forces of the polydisperse soft-sphere potential.

All arrays float64, positions (N, 3), periodic orthorhombic box given by its three edge lengths.
The neighbour list is a flat half list (i < j) of pairs closer than RC_FACTOR * sigma_ij + skin at build time,
built from a cell list (or all pairs when the box holds fewer than three cells per side).  The
per-pair diameter sigma_ij is stored with the pair, so the force loop does no diameter arithmetic.
Positions may be unwrapped: each listed pair carries the periodic shift of its minimum image at build
time, which stays right until the next rebuild (no particle moves more than skin/2 in between), so the
force loop needs no rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import model

RC = model.RC_FACTOR
RC2 = RC * RC
NONADD = model.NONADD
C0, C2, C4 = model.C0, model.C2, model.C4


@njit(cache=True, inline="always", error_model="numpy")
def sij(si, sj):
    return 0.5 * (si + sj) * (1.0 - NONADD * abs(si - sj))


@njit(cache=True, inline="always", error_model="numpy")
def pair_energy(r2, s):
    """v(r) for r^2 = r2 (returns 0 beyond the cutoff)."""
    s2 = s * s
    if r2 >= RC2 * s2:
        return 0.0
    q = r2 / s2
    u6 = 1.0 / (q * q * q)
    return u6 * u6 + C0 + C2 * q + C4 * q * q


@njit(cache=True, error_model="numpy")
def _half_stencil(nc0, nc1, nc2, reach, box):
    """For each cell, the neighbour cells at offsets lexicographically after (0, 0, 0) within +-reach
    (periodic), and the shift to subtract from x_a - x_b for the periodic image of that neighbour:
    (ncell, m) cells and (ncell, m, 3) shifts, m = ((2 reach + 1)^3 - 1) / 2.  With the cell itself (pairs
    a < b) this visits every pair of cells once.  The caller ensures nc >= 2 reach + 1 on every axis, so the
    cells are distinct and every pair within the list range is found in its nearest image."""
    ncell = nc0 * nc1 * nc2
    w = 2 * reach + 1
    m = (w * w * w - 1) // 2
    out = np.empty((ncell, m), np.int64)
    shift = np.zeros((ncell, m, 3))
    for c in range(ncell):
        c0 = c // (nc1 * nc2)
        c1 = (c // nc2) % nc1
        c2 = c % nc2
        k = 0
        for a in range(-reach, reach + 1):
            for b in range(-reach, reach + 1):
                for d in range(-reach, reach + 1):
                    if a > 0 or (a == 0 and (b > 0 or (b == 0 and d > 0))):
                        t0, t1, t2 = c0 + a, c1 + b, c2 + d
                        out[c, k] = ((t0 % nc0) * nc1 + t1 % nc1) * nc2 + t2 % nc2
                        # neighbour cell beyond an edge: its particles are seen one box over
                        shift[c, k, 0] = box[0] if t0 >= nc0 else (-box[0] if t0 < 0 else 0.0)
                        shift[c, k, 1] = box[1] if t1 >= nc1 else (-box[1] if t1 < 0 else 0.0)
                        shift[c, k, 2] = box[2] if t2 >= nc2 else (-box[2] if t2 < 0 else 0.0)
                        k += 1
    return out, shift


@njit(cache=True, error_model="numpy")
def _append(i, j, r2, ox, oy, oz, si, diam, img, skin, rfixed, pi, pj, ps, sh, npairs, cap):
    """Store the candidate pair (i, j) if it is within its list range; returns the new count (-1: full).
    The shift makes x_i - x_j - sh the separation: (xw_i + img_i) - (xw_j + img_j) - (o + img_i - img_j)."""
    s = sij(si, diam[j])
    if rfixed <= 0.0:
        rl = RC * s + skin
        if r2 >= rl * rl:
            return npairs
    if npairs == cap:
        return -1
    sx = ox + img[i, 0] - img[j, 0]
    sy = oy + img[i, 1] - img[j, 1]
    sz = oz + img[i, 2] - img[j, 2]
    if i < j:
        pi[npairs] = i
        pj[npairs] = j
        sh[npairs, 0] = sx
        sh[npairs, 1] = sy
        sh[npairs, 2] = sz
    else:
        pi[npairs] = j
        pj[npairs] = i
        sh[npairs, 0] = -sx
        sh[npairs, 1] = -sy
        sh[npairs, 2] = -sz
    ps[npairs] = 1.0 / (s * s)
    return npairs + 1


@njit(cache=True, error_model="numpy")
def _fill_pairs(x, diam, box, skin, rfixed, reach, pi, pj, ps, sh):
    """Fill the half list into the given arrays.  Returns the pair count, or -1 if they are too short.

    A pair is listed when r < RC_FACTOR * sigma_ij + skin, or, when rfixed > 0, when r < rfixed.
    sh[p] is the periodic shift such that x[i] - x[j] - sh[p] is the minimum-image separation at build time.
    Cells are at least (list range / reach) wide and searched +-reach cells away.
    """
    n = x.shape[0]
    cap = pi.size
    smax = 0.0
    for i in range(n):
        if diam[i] > smax:
            smax = diam[i]
    rlist_max = RC * smax + skin
    if rfixed > 0.0:
        rlist_max = rfixed
    nc0 = max(int(reach * box[0] / rlist_max), 1)
    nc1 = max(int(reach * box[1] / rlist_max), 1)
    nc2 = max(int(reach * box[2] / rlist_max), 1)
    use_cells = True
    if nc0 < 2 * reach + 1 or nc1 < 2 * reach + 1 or nc2 < 2 * reach + 1:
        nc0 = nc1 = nc2 = 1  # small box: every pair is a candidate
        reach = 0
        use_cells = False
    ncell = nc0 * nc1 * nc2
    rmax2 = rlist_max * rlist_max
    # wrapped copy in [0, L), each particle's image offset, and its cell
    xw = np.empty_like(x)
    img = np.empty_like(x)
    cell = np.empty(n, np.int64)
    count = np.zeros(ncell + 1, np.int64)
    for i in range(n):
        for d in range(3):
            m = np.floor(x[i, d] / box[d])
            xw[i, d] = x[i, d] - m * box[d]
            if xw[i, d] >= box[d]:
                xw[i, d] -= box[d]
                m += 1.0
            img[i, d] = m * box[d]
        # clamp into the grid: a non-finite coordinate must not index outside the cell arrays (its
        # energy is then non-finite and reported by the caller)
        k0 = min(max(int(xw[i, 0] / box[0] * nc0), 0), nc0 - 1) if np.isfinite(xw[i, 0]) else 0
        k1 = min(max(int(xw[i, 1] / box[1] * nc1), 0), nc1 - 1) if np.isfinite(xw[i, 1]) else 0
        k2 = min(max(int(xw[i, 2] / box[2] * nc2), 0), nc2 - 1) if np.isfinite(xw[i, 2]) else 0
        cell[i] = (k0 * nc1 + k1) * nc2 + k2
        count[cell[i] + 1] += 1
    start = np.cumsum(count)
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    xs = np.empty((n, 3))
    for k in range(n):
        xs[k, 0] = xw[order[k], 0]
        xs[k, 1] = xw[order[k], 1]
        xs[k, 2] = xw[order[k], 2]
    stencil, sshift = _half_stencil(nc0, nc1, nc2, reach, box)
    hx, hy, hz = 0.5 * box[0], 0.5 * box[1], 0.5 * box[2]
    npairs = 0
    for c in range(ncell):
        for a in range(start[c], start[c + 1]):
            i = order[a]
            xa, ya, za = xs[a, 0], xs[a, 1], xs[a, 2]
            si = diam[i]
            # q = -1: the cell itself (partners after a); then the half stencil (all partners)
            for q in range(-1, stencil.shape[1]):
                if q < 0:
                    b0 = a + 1
                    b1 = start[c + 1]
                    ox = 0.0
                    oy = 0.0
                    oz = 0.0
                else:
                    nb = stencil[c, q]
                    b0 = start[nb]
                    b1 = start[nb + 1]
                    ox = sshift[c, q, 0]
                    oy = sshift[c, q, 1]
                    oz = sshift[c, q, 2]
                if use_cells:
                    for b in range(b0, b1):
                        dx = xa - xs[b, 0] - ox
                        dy = ya - xs[b, 1] - oy
                        dz = za - xs[b, 2] - oz
                        r2 = dx * dx + dy * dy + dz * dz
                        if r2 >= rmax2:
                            continue
                        npairs = _append(i, order[b], r2, ox, oy, oz, si, diam, img, skin, rfixed, pi, pj, ps, sh,
                                         npairs, cap)
                        if npairs < 0:
                            return -1
                else:  # one cell holds everything: minimum image per pair
                    for b in range(b0, b1):
                        dx = xa - xs[b, 0]
                        dy = ya - xs[b, 1]
                        dz = za - xs[b, 2]
                        px = box[0] if dx > hx else (-box[0] if dx < -hx else 0.0)
                        py = box[1] if dy > hy else (-box[1] if dy < -hy else 0.0)
                        pz = box[2] if dz > hz else (-box[2] if dz < -hz else 0.0)
                        dx -= px
                        dy -= py
                        dz -= pz
                        r2 = dx * dx + dy * dy + dz * dz
                        if r2 >= rmax2:
                            continue
                        npairs = _append(i, order[b], r2, px, py, pz, si, diam, img, skin, rfixed, pi, pj, ps, sh,
                                         npairs, cap)
                        if npairs < 0:
                            return -1
    return npairs


@njit(cache=True, error_model="numpy")
def build_pairs(x, diam, box, skin, cap, rfixed=0.0, reach=2):
    """Half neighbour list from a cell list (all pairs when the box holds < 3 cells a side).

    Returns (pi, pj, ps, sh, n_pairs): pair indices i < j, 1 / sigma_ij^2, periodic shifts; the arrays may be
    longer than n_pairs.  cap: initial capacity.
    """
    cap = max(cap, 64)
    while True:
        pi = np.empty(cap, np.int32)
        pj = np.empty(cap, np.int32)
        ps = np.empty(cap, np.float64)
        sh = np.empty((cap, 3), np.float64)
        m = _fill_pairs(x, diam, box, skin, rfixed, reach, pi, pj, ps, sh)
        if m >= 0:
            return pi, pj, ps, sh, m
        cap *= 2


@njit(cache=True, error_model="numpy")
def energy_forces(x, box, pi, pj, ps, sh, npairs, f):
    """Total potential energy; forces written into f (N, 3).

    Works in q = (r / sigma_ij)^2 with the stored 1 / sigma_ij^2, so a pair costs one division:
    v = q^-6 + C0 + C2 q + C4 q^2 and -(dv/dr)/r = (12 q^-7 - 2 C2 - 4 C4 q) / sigma_ij^2.
    """
    n = x.shape[0]
    for i in range(n):
        f[i, 0] = 0.0
        f[i, 1] = 0.0
        f[i, 2] = 0.0
    e = 0.0
    for p in range(npairs):
        i = pi[p]
        j = pj[p]
        dx = x[i, 0] - x[j, 0] - sh[p, 0]
        dy = x[i, 1] - x[j, 1] - sh[p, 1]
        dz = x[i, 2] - x[j, 2] - sh[p, 2]
        is2 = ps[p]
        q = (dx * dx + dy * dy + dz * dz) * is2
        if q < RC2:
            iq = 1.0 / q
            u6 = iq * iq * iq
            u12 = u6 * u6
            e += u12 + C0 + q * (C2 + C4 * q)
            fr = (12.0 * u12 * iq - 2.0 * C2 - 4.0 * C4 * q) * is2
            fx = fr * dx
            fy = fr * dy
            fz = fr * dz
            f[i, 0] += fx
            f[i, 1] += fy
            f[i, 2] += fz
            f[j, 0] -= fx
            f[j, 1] -= fy
            f[j, 2] -= fz
    return e


@njit(cache=True, error_model="numpy")
def energy_only(x, pi, pj, ps, sh, npairs):
    e = 0.0
    for p in range(npairs):
        i = pi[p]
        j = pj[p]
        dx = x[i, 0] - x[j, 0] - sh[p, 0]
        dy = x[i, 1] - x[j, 1] - sh[p, 1]
        dz = x[i, 2] - x[j, 2] - sh[p, 2]
        q = (dx * dx + dy * dy + dz * dz) * ps[p]
        if q < RC2:
            u6 = 1.0 / (q * q * q)
            e += u6 * u6 + C0 + q * (C2 + C4 * q)
    return e


@njit(cache=True, error_model="numpy")
def max_disp2(x, xref):
    m = 0.0
    for i in range(x.shape[0]):
        dx = x[i, 0] - xref[i, 0]
        dy = x[i, 1] - xref[i, 1]
        dz = x[i, 2] - xref[i, 2]
        d = dx * dx + dy * dy + dz * dz
        if d > m:
            m = d
    return m


@njit(cache=True, error_model="numpy")
def max_force(f):
    m = 0.0
    for i in range(f.shape[0]):
        d = f[i, 0] * f[i, 0] + f[i, 1] * f[i, 1] + f[i, 2] * f[i, 2]
        if d > m:
            m = d
    return np.sqrt(m)


@njit(cache=True, error_model="numpy")
def energy_forces_auto(x, diam, box, skin, nl, f):
    """Energy/forces, rebuilding the list held in nl = (pi, pj, ps, sh, npairs, xref) when needed.

    Returns (energy, nl, rebuilt).
    """
    pi, pj, ps, sh, npairs, xref = nl
    rebuilt = False
    if max_disp2(x, xref) > 0.25 * skin * skin:
        pi, pj, ps, sh, npairs = build_pairs(x, diam, box, skin, pi.size)
        xref = x.copy()
        rebuilt = True
    e = energy_forces(x, box, pi, pj, ps, sh, npairs, f)
    return e, (pi, pj, ps, sh, npairs, xref), rebuilt


def new_nlist(x, diam, box, skin):
    """A fresh neighbour-list tuple (pi, pj, ps, sh, npairs, xref) for energy_forces_auto."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    cap = int(x.shape[0] * 12)
    pi, pj, ps, sh, npairs = build_pairs(x, np.ascontiguousarray(diam, np.float64), np.asarray(box, np.float64),
                                         float(skin), cap)
    return (pi, pj, ps, sh, npairs, x.copy())
