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
from .simd import VW, run_lanes8

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


@njit(cache=True, inline="always", error_model="numpy")
def pair_ef(q, is2):
    """The pair law in one place, for every kernel (single configuration, band, lanes): energy v and
    -(dv/dr)/r of a pair at q = (r / sigma_ij)^2 < RC^2, with the per-pair parameter is2 = 1 / sigma_ij^2
    stored in the neighbour list: v = q^-6 + C0 + C2 q + C4 q^2, -(dv/dr)/r = (12 q^-7 - 2 C2 - 4 C4 q) is2."""
    iq = 1.0 / q
    u6 = iq * iq * iq
    u12 = u6 * u6
    e = u12 + C0 + q * (C2 + C4 * q)
    fr = (12.0 * u12 * iq - 2.0 * C2 - 4.0 * C4 * q) * is2
    return e, fr


@njit(cache=True, inline="always", error_model="numpy")
def _store(i, j, sx, sy, sz, s, pi, pj, ps, sh, npairs):
    """Write pair (i, j) with shift (sx, sy, sz) (x_i - x_j - shift is the separation) and sigma_ij = s at
    index npairs, oriented i < j (the shift flips with the orientation); returns npairs + 1."""
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
def _wrap_cell(t, nc, length):
    """Periodic cell index t of an axis with nc cells, and the shift (0 or +-length) of the image it is in."""
    if t >= nc:
        return t - nc, length
    if t < 0:
        return t + nc, -length
    return t, 0.0


@njit(cache=True, error_model="numpy")
def _gaps(bx, by, bz, bs, gap, nbuf, xa, ya, za, si, skin, rfixed):
    """gap[k] = r^2 - r_list^2 from (xa, ya, za) to the candidates k < nbuf (a vectorised loop); returns
    how many are within range, so that the caller's scan can stop after the last of them."""
    cnt = 0
    for k in range(nbuf):
        dx = xa - bx[k]
        dy = ya - by[k]
        dz = za - bz[k]
        sj = bs[k]
        rl = RC * 0.5 * (si + sj) * (1.0 - NONADD * abs(si - sj)) + skin
        if rfixed > 0.0:
            rl = rfixed
        g = dx * dx + dy * dy + dz * dz - rl * rl
        gap[k] = g
        cnt += g < 0.0
    return cnt


@njit(cache=True, error_model="numpy")
def _fill_pairs(x, diam, box, skin, rfixed, reach, pi, pj, ps, sh):
    """Fill the half list into the given arrays.  Returns the pair count, or -1 if they are too short.

    A pair is listed when r < RC_FACTOR * sigma_ij + skin, or, when rfixed > 0, when r < rfixed.
    sh[p] is the periodic shift such that x[i] - x[j] - sh[p] is the minimum-image separation at build time.
    Cells are at least (list range / reach) wide and searched +-reach cells away.  Particles are counting-
    sorted by cell into coordinate arrays of their own, so that the distances from one particle to all of a
    neighbour cell are one vectorised loop; only candidates within the largest list range go on to the
    per-pair test.
    """
    n = x.shape[0]
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
    if nc0 < 2 * reach + 1 or nc1 < 2 * reach + 1 or nc2 < 2 * reach + 1:
        return _fill_pairs_small(x, diam, box, skin, rfixed, rlist_max, pi, pj, ps, sh)
    ncell = nc0 * nc1 * nc2
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
    # counting sort by cell, with sorted copies: a run of cells along the last axis is one contiguous range
    order = np.empty(n, np.int64)
    ys0 = np.empty(n)
    ys1 = np.empty(n)
    ys2 = np.empty(n)
    ysd = np.empty(n)
    for i in range(n):
        k = fill[cell[i]]
        fill[cell[i]] += 1
        order[k] = i
        ys0[k] = xw[i, 0]
        ys1[k] = xw[i, 1]
        ys2[k] = xw[i, 2]
        ysd[k] = diam[i]
    # per cell: the particles of its half stencil gathered into one candidate buffer (coordinates already
    # in the image seen from the cell), so that each particle's test is one long vectorised loop.  The
    # stencil is walked in rows along the last axis, each row one or (at the box edge) two ranges.
    w = 2 * reach + 1
    maxc = 0
    for c in range(ncell):
        maxc = max(maxc, start[c + 1] - start[c])
    bufcap = maxc * ((w * w * w + 1) // 2)
    bx = np.empty(bufcap)
    by = np.empty(bufcap)
    bz = np.empty(bufcap)
    bs = np.empty(bufcap)
    bj = np.empty(bufcap, np.int64)
    bo0 = np.empty(bufcap)
    bo1 = np.empty(bufcap)
    bo2 = np.empty(bufcap)
    gap = np.empty(bufcap)
    npairs = 0
    cap = pi.size
    for c0 in range(nc0):
        for c1 in range(nc1):
            for c2 in range(nc2):
                c = (c0 * nc1 + c1) * nc2 + c2
                # rows of the half stencil: (0, 0, 0..reach) first (the cell itself leads), then (0, db > 0, *)
                # and (da > 0, *, *): every pair of cells once, each neighbour seen in its nearest image
                nbuf = 0
                for da in range(0, reach + 1):
                    for db in range(-reach if da > 0 else 0, reach + 1):
                        t0, ox = _wrap_cell(c0 + da, nc0, box[0])
                        t1, oy = _wrap_cell(c1 + db, nc1, box[1])
                        base = (t0 * nc1 + t1) * nc2
                        lo = 0 if (da == 0 and db == 0) else -reach
                        # the row c2+lo .. c2+reach: the part inside the box, then the wrapped parts
                        for part in range(3):
                            if part == 0:
                                z0, z1, oz = max(c2 + lo, 0), min(c2 + reach, nc2 - 1), 0.0
                            elif part == 1:
                                z0, z1, oz = c2 + lo + nc2, nc2 - 1, -box[2]
                            else:
                                z0, z1, oz = 0, c2 + reach - nc2, box[2]
                            if z1 < z0:
                                continue
                            b0 = start[base + z0]
                            nb = start[base + z1 + 1] - b0
                            for q in range(nb):  # vectorised copy
                                bx[nbuf + q] = ys0[b0 + q] + ox
                                by[nbuf + q] = ys1[b0 + q] + oy
                                bz[nbuf + q] = ys2[b0 + q] + oz
                                bs[nbuf + q] = ysd[b0 + q]
                                bj[nbuf + q] = order[b0 + q]
                                bo0[nbuf + q] = ox
                                bo1[nbuf + q] = oy
                                bo2[nbuf + q] = oz
                            nbuf += nb
                for a in range(start[c], start[c + 1]):
                    i = order[a]
                    xa, ya, za, si = xw[i, 0], xw[i, 1], xw[i, 2], diam[i]
                    k0 = a - start[c] + 1  # partners in the own cell come after a
                    # from 0, not k0: with a start that varies between calls the vector loop runs ~4x slower
                    left = _gaps(bx, by, bz, bs, gap, nbuf, xa, ya, za, si, skin, rfixed)
                    for k in range(k0):
                        left -= gap[k] < 0.0
                    if npairs + left > cap:
                        return -1
                    k = k0 - 1
                    while left > 0:  # the scan stops at the last partner in range
                        k += 1
                        if gap[k] < 0.0:
                            left -= 1
                            j = bj[k]
                            # separation xw_i - (xw_j + o) = x_i - x_j - (o + img_i - img_j)
                            npairs = _store(i, j, bo0[k] + img[i, 0] - img[j, 0], bo1[k] + img[i, 1] - img[j, 1],
                                            bo2[k] + img[i, 2] - img[j, 2], sij(si, bs[k]), pi, pj, ps, sh, npairs)
    return npairs


@njit(cache=True, error_model="numpy")
def _fill_pairs_small(x, diam, box, skin, rfixed, rlist_max, pi, pj, ps, sh):
    """_fill_pairs for a box too small for cells: every pair is a candidate, in its minimum image."""
    n = x.shape[0]
    cap = pi.size
    rmax2 = rlist_max * rlist_max
    hx, hy, hz = 0.5 * box[0], 0.5 * box[1], 0.5 * box[2]
    npairs = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = x[i, 0] - x[j, 0]
            dy = x[i, 1] - x[j, 1]
            dz = x[i, 2] - x[j, 2]
            px = box[0] * np.floor((dx + hx) / box[0]) if np.isfinite(dx) else 0.0
            py = box[1] * np.floor((dy + hy) / box[1]) if np.isfinite(dy) else 0.0
            pz = box[2] * np.floor((dz + hz) / box[2]) if np.isfinite(dz) else 0.0
            dx -= px
            dy -= py
            dz -= pz
            r2 = dx * dx + dy * dy + dz * dz
            if r2 >= rmax2:
                continue
            s = sij(diam[i], diam[j])
            if rfixed <= 0.0:
                rl = RC * s + skin
                if r2 >= rl * rl:
                    continue
            if npairs == cap:
                return -1
            npairs = _store(i, j, px, py, pz, s, pi, pj, ps, sh, npairs)
    return npairs


@njit(cache=True, error_model="numpy")
def build_pairs(x, diam, box, skin, cap, rfixed=0.0, reach=1):
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
    The loop runs on flat views with unsigned indices (no 2-D index arithmetic, no negative-index
    wrap-around): about 20% faster than the same loop on (N, 3) arrays.
    """
    xf = x.reshape(-1)
    sf = sh.reshape(-1)
    ff = f.reshape(-1)
    for k in range(ff.size):
        ff[k] = 0.0
    e = 0.0
    for p in range(npairs):
        i = 3 * np.uint32(pi[p])
        j = 3 * np.uint32(pj[p])
        dx = xf[i] - xf[j] - sf[3 * p]
        dy = xf[i + 1] - xf[j + 1] - sf[3 * p + 1]
        dz = xf[i + 2] - xf[j + 2] - sf[3 * p + 2]
        is2 = ps[p]
        q = (dx * dx + dy * dy + dz * dz) * is2
        if q < RC2:
            ep, fr = pair_ef(q, is2)
            e += ep
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
def energy_only(x, pi, pj, ps, sh, npairs):
    xf = x.reshape(-1)
    sf = sh.reshape(-1)
    e = 0.0
    for p in range(npairs):
        i = 3 * np.uint32(pi[p])
        j = 3 * np.uint32(pj[p])
        dx = xf[i] - xf[j] - sf[3 * p]
        dy = xf[i + 1] - xf[j + 1] - sf[3 * p + 1]
        dz = xf[i + 2] - xf[j + 2] - sf[3 * p + 2]
        q = (dx * dx + dy * dy + dz * dz) * ps[p]
        if q < RC2:
            u6 = 1.0 / (q * q * q)
            e += u6 * u6 + C0 + q * (C2 + C4 * q)
    return e


@njit(cache=True, error_model="numpy")
def max_disp2(x, xref):
    """Largest squared displacement of a particle between xref and x (both (N, 3), C order)."""
    xf = x.reshape(-1)
    rf = xref.reshape(-1)
    m = 0.0
    for i in range(x.shape[0]):
        dx = xf[3 * i] - rf[3 * i]
        dy = xf[3 * i + 1] - rf[3 * i + 1]
        dz = xf[3 * i + 2] - rf[3 * i + 2]
        m = max(m, dx * dx + dy * dy + dz * dz)
    return m


@njit(cache=True, error_model="numpy")
def max_force(f):
    m = 0.0
    for i in range(f.shape[0]):
        d = f[i, 0] * f[i, 0] + f[i, 1] * f[i, 1] + f[i, 2] * f[i, 2]
        if d > m or d != d:  # a NaN force sticks: a descent with NaN forces is never "converged"
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


@njit(cache=True, error_model="numpy")
def band_energy_forces(X, diam, box, skin, PI, PJ, PS, SH, NP, XREF, E, F):
    """Energies E (K,) and forces F (K, 3N) of K configurations X (K, 3N) of one system, each with its own
    Verlet list in row k of PI, PJ, PS (K, cap), SH (K, cap, 3), NP (K,) (NP[k] < 0: not built yet) and
    reference positions XREF (K, N, 3).  One compiled loop over the images of a band.

    Returns the number of lists rebuilt, or -1 - k when image k's list needs more than cap pairs (grow the
    arrays, set NP to -1 and call again).
    """
    K = X.shape[0]
    n = diam.size
    nreb = 0
    lim = 0.25 * skin * skin
    for k in range(K):
        x = X[k].reshape(n, 3)
        if NP[k] < 0 or max_disp2(x, XREF[k]) > lim:
            m = _fill_pairs(x, diam, box, skin, 0.0, 1, PI[k], PJ[k], PS[k], SH[k])
            if m < 0:
                return -1 - k
            NP[k] = m
            XREF[k][:, :] = x
            nreb += 1
        E[k] = energy_forces(x, box, PI[k], PJ[k], PS[k], SH[k], NP[k], F[k].reshape(n, 3))
    return nreb


@njit(cache=True, error_model="numpy")
def band_pack(X, XT, xref, allow2):
    """XT[i, c, k] = X[k, 3 i + c] for the K images of X (K, 3N); columns k >= K of XT (N, 3, W) repeat the last
    image.  Returns max over images and particles of |x_ki - xref_i|^2 - allow2_i (> 0: a particle moved
    further from xref (N, 3) than its allowance)."""
    K = X.shape[0]
    n, _, W = XT.shape
    m = -np.inf
    for i in range(n):
        for k in range(W):
            kk = min(k, K - 1)
            dx = X[kk, 3 * i] - xref[i, 0]
            dy = X[kk, 3 * i + 1] - xref[i, 1]
            dz = X[kk, 3 * i + 2] - xref[i, 2]
            XT[i, 0, k] = X[kk, 3 * i]
            XT[i, 1, k] = X[kk, 3 * i + 1]
            XT[i, 2, k] = X[kk, 3 * i + 2]
            d = dx * dx + dy * dy + dz * dz - allow2[i]
            if not d <= m:  # NaN propagates
                m = d
    return m


@njit(cache=True, error_model="numpy")
def band_unpack(FT, F):
    """F[k, 3 i + c] = FT[i, c, k] for the K rows of F (K, 3N)."""
    K = F.shape[0]
    for i in range(FT.shape[0]):
        for k in range(K):
            F[k, 3 * i] = FT[i, 0, k]
            F[k, 3 * i + 1] = FT[i, 1, k]
            F[k, 3 * i + 2] = FT[i, 2, k]


@njit(cache=True, inline="always")
def _lanes_contiguous(A):
    """A (N, 3, W) float64 is C-contiguous (the layout the 8-lane vectors address)."""
    n, _, W = A.shape
    return A.strides[2] == 8 and A.strides[1] == 8 * W and A.strides[0] == 24 * W


@njit(cache=True, error_model="numpy")
def band_energy_forces_shared(XT, pi, pj, ps, sh, npairs, ET, FT):
    """Energies ET (W,) and forces FT (N, 3, W) of W configurations XT (N, 3, W) (the image index last) that
    share one Verlet list (pi, pj, ps, sh, npairs): valid while no particle of any image is more than
    skin / 2 from the positions the list was built at.  The loop over images is innermost and has no branch
    (pairs beyond the cutoff contribute an exact 0), so it runs in SIMD lanes, one image per lane: about
    half the time of one list per image on a 40-image band, where the lists are as long.  Per pair the
    arithmetic is that of :func:`energy_forces`; only the order of the sums over pairs differs.

    When W is a multiple of 8 and the arrays are C-contiguous, each pair runs as 8-lane vectors written out
    explicitly (:func:`tlspipe.engine.simd.run_lanes8`): the same bits, ~2-4x faster than the loop below,
    which the compiler vectorises only 4 wide and behind run-time alias checks (module ``simd``)."""
    n, _, W = XT.shape
    for i in range(n):
        for c in range(3):
            for k in range(W):
                FT[i, c, k] = 0.0
    for k in range(W):
        ET[k] = 0.0
    if (W % VW == 0 and _lanes_contiguous(XT) and _lanes_contiguous(FT) and ET.strides[0] == 8
            and sh.strides[0] == 24 and sh.strides[1] == 8 and ps.strides[0] == 8 and pj.strides[0] == pj.itemsize):
        nb = W // VW
        p = 0
        while p < npairs:  # runs of pairs of one particle i (a whole row in a list sorted by i)
            i = pi[p]
            q = p + 1
            while q < npairs and pi[q] == i:
                q += 1
            for b in range(nb):
                run_lanes8(XT, FT, ET, pj, ps, sh, i, p, q, b)
            p = q
        return
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
            inside = q < RC2
            q = q if inside else RC2  # a finite stand-in beyond the cutoff, its terms then zeroed
            e, fr = pair_ef(q, is2)
            e = e if inside else 0.0
            fr = fr if inside else 0.0
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
