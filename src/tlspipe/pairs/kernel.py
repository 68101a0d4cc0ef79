"""Compiled (numba, float64) kernels for pair features.

Positions enter as structure-of-arrays blocks ``(n_is, 3, N)`` so that the loop over particles runs over
contiguous x, y and z rows and vectorises.  One feature row per pair, in the order of
:func:`tlspipe.columns.feature_columns` without the transition counts::

    delta_e, dr_1..dr_M, d, pr, dist_1_2..dist_1_M          (2 M + 2 values)

Lengths in sigma, energies in epsilon.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


#: (sigma)^2: a particle whose displacement is at most 1e-9 sigma did not move (what is left of a removed
#: global translation is round-off, ~1e-15 sigma)
STILL2 = 1e-18


#: sigma: largest mean displacement left by a guessed translation that is taken as the pair's own
RESIDUAL = 1e-12


def n_geo(m: int) -> int:
    """Number of float features the kernel writes per pair (delta_e included, t_ab/t_ba excluded)."""
    return 2 * m + 2


@njit(cache=True, inline="always")
def _minimg(x, box_len, inv_len):
    """Minimum image of one coordinate with the reciprocal edge precomputed (x * inv_len, the kernels' form;
    not bit-identical to dividing, as tlspipe.util.periodic does elsewhere)."""
    return x - box_len * np.rint(x * inv_len)


@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _translation(pa, pb, box, inv):
    """The global translation of b relative to a: the mean minimum-image displacement, taken relative to
    particle 0's displacement t0 (mean of minimum-image (b_i - a_i - t0), plus t0), so that a translation of
    any size is found whole while the particles' displacements relative to it stay below half the box."""
    n = pa.shape[1]
    lx, ly, lz = box[0], box[1], box[2]
    ix, iy, iz = inv[0], inv[1], inv[2]
    xa, ya, za = pa[0], pa[1], pa[2]
    xb, yb, zb = pb[0], pb[1], pb[2]
    tx = _minimg(xb[0] - xa[0], lx, ix)
    ty = _minimg(yb[0] - ya[0], ly, iy)
    tz = _minimg(zb[0] - za[0], lz, iz)
    sx = 0.0
    sy = 0.0
    sz = 0.0
    for i in range(n):
        sx += _minimg(xb[i] - xa[i] - tx, lx, ix)
        sy += _minimg(yb[i] - ya[i] - ty, ly, iy)
        sz += _minimg(zb[i] - za[i] - tz, lz, iz)
    return tx + sx / n, ty + sy / n, tz + sz / n


@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _squared_displacements(pa, pb, box, inv, buf, tx, ty, tz):
    """buf[i] = |minimum-image (b_i - a_i - t)|^2 (t: the global translation); returns (sum buf, sum buf^2,
    largest |component| of the mean of those displacements: ~0 when t is the pair's translation).
    pa, pb: (3, N)."""
    n = pa.shape[1]
    lx, ly, lz = box[0], box[1], box[2]
    ix, iy, iz = inv[0], inv[1], inv[2]
    xa, ya, za = pa[0], pa[1], pa[2]
    xb, yb, zb = pb[0], pb[1], pb[2]
    s2 = 0.0
    s4 = 0.0
    mx = 0.0
    my = 0.0
    mz = 0.0
    for i in range(n):
        dx = xb[i] - xa[i] - tx
        dy = yb[i] - ya[i] - ty
        dz = zb[i] - za[i] - tz
        dx = _minimg(dx, lx, ix)
        dy = _minimg(dy, ly, iy)
        dz = _minimg(dz, lz, iz)
        mx += dx
        my += dy
        mz += dz
        r2 = dx * dx + dy * dy + dz * dz
        buf[i] = r2
        s2 += r2
        s4 += r2 * r2
    return s2, s4, max(abs(mx), max(abs(my), abs(mz))) / n


@njit(cache=True, inline="always")
def _insert(v, i, top_r2, top_i, last):
    """Insert value v of particle i into the descending top list (after equal values); return the new
    m-th largest value."""
    p = last
    while p > 0 and v > top_r2[p - 1]:
        top_r2[p] = top_r2[p - 1]
        top_i[p] = top_i[p - 1]
        p -= 1
    top_r2[p] = v
    top_i[p] = i
    return top_r2[last]


@njit(cache=True)
def _pair_row(pa, pb, box, inv, m, buf, top_r2, top_i, out, tx, ty, tz):
    """Geometric features of one pair into out[1:] (out[0], delta_e, is left to the caller).

    Displacements are taken with the pair's global translation removed (:func:`_translation`).  The caller's
    guess t = (tx, ty, tz) (the difference of the two IS's translations from a common reference, one pass
    per IS) is used when the displacements it leaves have a mean below :data:`RESIDUAL`, as they have
    whenever it is the pair's translation; otherwise the pair's own is computed (one more pass).  Ties in
    |dr| keep the lower particle index first.  Decisions for degenerate pairs: pr = 0 when no particle moved
    (dr_1 <= 1e-9, :data:`STILL2`); dist_1_k = 0 when the k-th most displaced particle did not move
    (dr_k <= 1e-9).
    """
    s2, s4, resid = _squared_displacements(pa, pb, box, inv, buf, tx, ty, tz)
    if resid > RESIDUAL:  # t (from each IS's translation) is not this pair's: take the pair's own
        tx, ty, tz = _translation(pa, pb, box, inv)
        s2, s4, resid = _squared_displacements(pa, pb, box, inv, buf, tx, ty, tz)
    n = buf.shape[0]
    for k in range(m):
        top_r2[k] = -1.0
        top_i[k] = -1
    last = m - 1
    thr = -1.0  # the current m-th largest value, kept in a register
    # groups of four: one compare of the group maximum against thr skips most of the array
    n4 = n - n % 4
    for i in range(0, n4, 4):
        v0, v1, v2, v3 = buf[i], buf[i + 1], buf[i + 2], buf[i + 3]
        if max(max(v0, v1), max(v2, v3)) > thr:
            if v0 > thr:
                thr = _insert(v0, i, top_r2, top_i, last)
            if v1 > thr:
                thr = _insert(v1, i + 1, top_r2, top_i, last)
            if v2 > thr:
                thr = _insert(v2, i + 2, top_r2, top_i, last)
            if v3 > thr:
                thr = _insert(v3, i + 3, top_r2, top_i, last)
    for i in range(n4, n):
        if buf[i] > thr:
            thr = _insert(buf[i], i, top_r2, top_i, last)
    for k in range(m):
        out[1 + k] = np.sqrt(top_r2[k]) if top_i[k] >= 0 else 0.0
    out[1 + m] = np.sqrt(s2)
    out[2 + m] = s2 * s2 / s4 if top_r2[0] > STILL2 else 0.0
    # midpoint of the most displaced particle
    i0 = top_i[0]
    m0x = pa[0, i0] + 0.5 * _minimg(pb[0, i0] - pa[0, i0] - tx, box[0], inv[0])
    m0y = pa[1, i0] + 0.5 * _minimg(pb[1, i0] - pa[1, i0] - ty, box[1], inv[1])
    m0z = pa[2, i0] + 0.5 * _minimg(pb[2, i0] - pa[2, i0] - tz, box[2], inv[2])
    for k in range(1, m):
        ik = top_i[k]
        if ik < 0 or top_r2[k] <= STILL2:
            out[2 + m + k] = 0.0
            continue
        mkx = pa[0, ik] + 0.5 * _minimg(pb[0, ik] - pa[0, ik] - tx, box[0], inv[0])
        mky = pa[1, ik] + 0.5 * _minimg(pb[1, ik] - pa[1, ik] - ty, box[1], inv[1])
        mkz = pa[2, ik] + 0.5 * _minimg(pb[2, ik] - pa[2, ik] - tz, box[2], inv[2])
        sx = _minimg(mkx - m0x, box[0], inv[0])
        sy = _minimg(mky - m0y, box[1], inv[1])
        sz = _minimg(mkz - m0z, box[2], inv[2])
        out[2 + m + k] = np.sqrt(sx * sx + sy * sy + sz * sz)


@njit(cache=True)
def single_pair(pa, pb, box, m):
    """Features of one pair; pa, pb are (3, N) structure-of-arrays.  Returns the 2M+2 kernel row with
    delta_e = 0 (the caller knows the energies)."""
    n = pa.shape[1]
    inv = 1.0 / box
    out = np.zeros(2 * m + 2)
    tx, ty, tz = _translation(pa, pb, box, inv)
    _pair_row(pa, pb, box, inv, m, np.empty(n), np.empty(m), np.empty(m, np.int64), out, tx, ty, tz)
    return out


@njit(cache=True)
def _include(rs, cs, lo, hi, c_is_row):
    """Pair (row at sorted position rs, column at sorted position cs) is wanted."""
    if cs < lo or cs > hi or cs == rs:
        return False
    return (not c_is_row) or cs > rs


@njit(cache=True)
def count_tasks(row_sp, row_lo, row_hi, col_sp, col_is_row, tile_r, tile_c):
    """Pairs per (row tile, column tile) of one block pair.  Returns (tr0, tc0, counts) of non-empty tiles.

    row_sp/col_sp: sorted (energy-rank) positions of the block's IS; row_lo/row_hi: inclusive window of
    wanted column ranks for each row; col_is_row: the column IS is also a row IS (then a pair is counted
    once, from the lower-ranked side).
    """
    nr = row_sp.shape[0]
    nc = col_sp.shape[0]
    ntr = (nr + tile_r - 1) // tile_r
    ntc = (nc + tile_c - 1) // tile_c
    counts = np.zeros(ntr * ntc, np.int64)
    for t in range(ntr * ntc):
        r0 = (t // ntc) * tile_r
        c0 = (t % ntc) * tile_c
        # rank windows are contiguous and columns are rank-sorted: skip tiles outside quickly
        cmin = col_sp[c0]
        cmax = col_sp[min(c0 + tile_c, nc) - 1]
        k = 0
        for r in range(r0, min(r0 + tile_r, nr)):
            if row_hi[r] < cmin or row_lo[r] > cmax:
                continue
            for c in range(c0, min(c0 + tile_c, nc)):
                if _include(row_sp[r], col_sp[c], row_lo[r], row_hi[r], col_is_row[c]):
                    k += 1
        counts[t] = k
    keep = np.nonzero(counts)[0]
    return (keep // ntc) * tile_r, (keep % ntc) * tile_c, counts[keep]


@njit(cache=True)
def translations(p0, block, box):
    """Translation (k, 3) of each IS of a (k, 3, N) block from the reference IS p0 (3, N) (:func:`_translation`).
    The difference of a pair's two is its translation whenever no particle is near half a box from the
    reference (checked per pair by :func:`_pair_row`, which computes the pair's own otherwise): one pass per
    IS instead of one per pair."""
    inv = 1.0 / box
    out = np.empty((block.shape[0], 3))
    for k in range(block.shape[0]):
        out[k, 0], out[k, 1], out[k, 2] = _translation(p0, block[k], box, inv)
    return out


@njit(cache=True, parallel=True, nogil=True)
def block_features(prow, pcol, row_sp, row_lo, row_hi, row_id, row_e, col_sp, col_id, col_e, col_is_row,
                   box, n_particles, m, tr0, tc0, offsets, tile_r, tile_c, feat, ids, row_t, col_t):
    """Features of all wanted pairs between a row block and a column block.

    prow (nr, 3, N), pcol (nc, 3, N): positions; *_id: store indices; *_e: energy per particle.
    Tasks are tiles (tr0[t], tc0[t]) whose pairs go to rows offsets[t]... of feat (n, 2M+2) and ids (n, 2).
    row_t (nr, 3), col_t (nc, 3): the IS's translations from a common reference (:func:`translations`).
    Within a tile a row IS stays in L1 while it meets tile_c column IS held in L2.  The pair is always
    evaluated as (a = lower energy rank, b = higher), so results do not depend on the blocking.
    """
    nr = prow.shape[0]
    nc = pcol.shape[0]
    n = prow.shape[2]
    inv = 1.0 / box
    for t in prange(tr0.shape[0]):
        buf = np.empty(n)
        top_r2 = np.empty(m)
        top_i = np.empty(m, np.int64)
        k = offsets[t]
        r0 = tr0[t]
        c0 = tc0[t]
        for r in range(r0, min(r0 + tile_r, nr)):
            rs = row_sp[r]
            if row_hi[r] < col_sp[c0] or row_lo[r] > col_sp[min(c0 + tile_c, nc) - 1]:
                continue
            for c in range(c0, min(c0 + tile_c, nc)):
                cs = col_sp[c]
                if not _include(rs, cs, row_lo[r], row_hi[r], col_is_row[c]):
                    continue
                out = feat[k]
                if rs < cs:
                    _pair_row(prow[r], pcol[c], box, inv, m, buf, top_r2, top_i, out, col_t[c, 0] - row_t[r, 0],
                              col_t[c, 1] - row_t[r, 1], col_t[c, 2] - row_t[r, 2])
                    out[0] = n_particles * (col_e[c] - row_e[r])
                    ids[k, 0] = row_id[r]
                    ids[k, 1] = col_id[c]
                else:
                    _pair_row(pcol[c], prow[r], box, inv, m, buf, top_r2, top_i, out, row_t[r, 0] - col_t[c, 0],
                              row_t[r, 1] - col_t[c, 1], row_t[r, 2] - col_t[c, 2])
                    out[0] = n_particles * (row_e[r] - col_e[c])
                    ids[k, 0] = col_id[c]
                    ids[k, 1] = row_id[r]
                k += 1


@njit(cache=True)
def rank_windows(e_sorted, n_particles, max_delta_e, ranks, symmetric):
    """Inclusive window [lo, hi] of energy ranks paired with each rank in ``ranks``.

    hi: last rank j with N (e_j - e_r) <= max_delta_e; lo: first rank j with N (e_r - e_j) <= max_delta_e
    (symmetric=True) or r + 1 (only higher ranks).  The same expression N (e_b - e_a) is what the kernel
    writes as delta_e, so the filter and the column agree to the last bit.
    """
    n = e_sorted.shape[0]
    lo = np.empty(ranks.shape[0], np.int64)
    hi = np.empty(ranks.shape[0], np.int64)
    for q in range(ranks.shape[0]):
        r = ranks[q]
        a, b = r, n - 1  # largest j in [r, n-1] with predicate true (true at j = r)
        while a < b:
            mid = (a + b + 1) // 2
            if n_particles * (e_sorted[mid] - e_sorted[r]) <= max_delta_e:
                a = mid
            else:
                b = mid - 1
        hi[q] = a
        if symmetric:
            a, b = 0, r  # smallest j in [0, r] with N (e_r - e_j) <= max
            while a < b:
                mid = (a + b) // 2
                if n_particles * (e_sorted[r] - e_sorted[mid]) <= max_delta_e:
                    b = mid
                else:
                    a = mid + 1
            lo[q] = a
        else:
            lo[q] = r + 1
    return lo, hi
