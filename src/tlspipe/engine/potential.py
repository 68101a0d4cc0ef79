"""Compiled kernels: Verlet neighbour list and energy/forces of the polydisperse soft-sphere potential.

All arrays float64, positions (N, 3), periodic orthorhombic box given by its three edge lengths.
The neighbour list is a flat half list (i < j) of pairs closer than RC_FACTOR * sigma_ij + skin at build time,
built from a cell list (or all pairs when the box holds fewer than three cells per side).  The
per-pair diameter sigma_ij is stored with the pair, so the force loop does no diameter arithmetic.
Positions may be unwrapped: the minimum image is taken in the force loop.
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
def build_pairs(x, diam, box, skin, cap, rfixed=0.0):
    """Half neighbour list.  Returns (pi, pj, ps, n_pairs); arrays may be longer than n_pairs.

    A pair is listed when r < RC_FACTOR * sigma_ij + skin, or, when rfixed > 0, when r < rfixed.
    cap: initial capacity (grown as needed).
    """
    n = x.shape[0]
    smax = 0.0
    for i in range(n):
        if diam[i] > smax:
            smax = diam[i]
    rlist_max = RC * smax + skin
    if rfixed > 0.0:
        rlist_max = rfixed
    nc = np.empty(3, np.int64)
    for d in range(3):
        nc[d] = int(box[d] / rlist_max)
    cap = max(cap, 16)
    pi = np.empty(cap, np.int32)
    pj = np.empty(cap, np.int32)
    ps = np.empty(cap, np.float64)
    npairs = 0
    inv = 1.0 / box
    if nc[0] < 3 or nc[1] < 3 or nc[2] < 3:
        for i in range(n):
            for j in range(i + 1, n):
                dx = x[i, 0] - x[j, 0]
                dy = x[i, 1] - x[j, 1]
                dz = x[i, 2] - x[j, 2]
                dx -= box[0] * np.rint(dx * inv[0])
                dy -= box[1] * np.rint(dy * inv[1])
                dz -= box[2] * np.rint(dz * inv[2])
                s = sij(diam[i], diam[j])
                rl = RC * s + skin if rfixed <= 0.0 else rfixed
                if dx * dx + dy * dy + dz * dz < rl * rl:
                    if npairs == pi.size:
                        pi, pj, ps = _grow(pi, pj, ps)
                    pi[npairs] = i
                    pj[npairs] = j
                    ps[npairs] = s
                    npairs += 1
        return pi, pj, ps, npairs
    # cell list
    ncell = nc[0] * nc[1] * nc[2]
    head = -np.ones(ncell, np.int64)
    nxt = -np.ones(n, np.int64)
    cell_of = np.empty((n, 3), np.int64)
    for i in range(n):
        c = np.empty(3, np.int64)
        for d in range(3):
            f = x[i, d] * inv[d]
            f -= np.floor(f)
            k = int(f * nc[d])
            if k >= nc[d]:
                k = nc[d] - 1
            c[d] = k
            cell_of[i, d] = k
        ci = (c[0] * nc[1] + c[1]) * nc[2] + c[2]
        nxt[i] = head[ci]
        head[ci] = i
    for i in range(n):
        for ox in range(-1, 2):
            cx = (cell_of[i, 0] + ox) % nc[0]
            for oy in range(-1, 2):
                cy = (cell_of[i, 1] + oy) % nc[1]
                for oz in range(-1, 2):
                    cz = (cell_of[i, 2] + oz) % nc[2]
                    j = head[(cx * nc[1] + cy) * nc[2] + cz]
                    while j >= 0:
                        if j > i:
                            dx = x[i, 0] - x[j, 0]
                            dy = x[i, 1] - x[j, 1]
                            dz = x[i, 2] - x[j, 2]
                            dx -= box[0] * np.rint(dx * inv[0])
                            dy -= box[1] * np.rint(dy * inv[1])
                            dz -= box[2] * np.rint(dz * inv[2])
                            s = sij(diam[i], diam[j])
                            rl = RC * s + skin if rfixed <= 0.0 else rfixed
                            if dx * dx + dy * dy + dz * dz < rl * rl:
                                if npairs == pi.size:
                                    pi, pj, ps = _grow(pi, pj, ps)
                                pi[npairs] = i
                                pj[npairs] = j
                                ps[npairs] = s
                                npairs += 1
                        j = nxt[j]
    return pi, pj, ps, npairs


@njit(cache=True, error_model="numpy")
def _grow(pi, pj, ps):
    m = pi.size * 2
    a = np.empty(m, np.int32)
    b = np.empty(m, np.int32)
    c = np.empty(m, np.float64)
    a[: pi.size] = pi
    b[: pi.size] = pj
    c[: pi.size] = ps
    return a, b, c


@njit(cache=True, error_model="numpy")
def energy_forces(x, box, pi, pj, ps, npairs, f):
    """Total potential energy; forces written into f (N, 3)."""
    n = x.shape[0]
    for i in range(n):
        f[i, 0] = 0.0
        f[i, 1] = 0.0
        f[i, 2] = 0.0
    bx, by, bz = box[0], box[1], box[2]
    ix, iy, iz = 1.0 / bx, 1.0 / by, 1.0 / bz
    e = 0.0
    for p in range(npairs):
        i = pi[p]
        j = pj[p]
        s = ps[p]
        dx = x[i, 0] - x[j, 0]
        dy = x[i, 1] - x[j, 1]
        dz = x[i, 2] - x[j, 2]
        dx -= bx * np.rint(dx * ix)
        dy -= by * np.rint(dy * iy)
        dz -= bz * np.rint(dz * iz)
        r2 = dx * dx + dy * dy + dz * dz
        s2 = s * s
        if r2 < RC2 * s2:
            is2 = 1.0 / s2
            q = r2 * is2
            u6 = 1.0 / (q * q * q)
            u12 = u6 * u6
            e += u12 + C0 + C2 * q + C4 * q * q
            # -(dv/dr)/r
            fr = 12.0 * u12 / r2 - (2.0 * C2 + 4.0 * C4 * q) * is2
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
def energy_only(x, box, pi, pj, ps, npairs):
    bx, by, bz = box[0], box[1], box[2]
    ix, iy, iz = 1.0 / bx, 1.0 / by, 1.0 / bz
    e = 0.0
    for p in range(npairs):
        i = pi[p]
        j = pj[p]
        dx = x[i, 0] - x[j, 0]
        dy = x[i, 1] - x[j, 1]
        dz = x[i, 2] - x[j, 2]
        dx -= bx * np.rint(dx * ix)
        dy -= by * np.rint(dy * iy)
        dz -= bz * np.rint(dz * iz)
        e += pair_energy(dx * dx + dy * dy + dz * dz, ps[p])
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
    """Energy/forces, rebuilding the list held in the tuple nl = (pi, pj, ps, npairs, xref) when needed.

    Returns (energy, nl, rebuilt).
    """
    pi, pj, ps, npairs, xref = nl
    rebuilt = False
    if max_disp2(x, xref) > 0.25 * skin * skin:
        pi, pj, ps, npairs = build_pairs(x, diam, box, skin, pi.size)
        xref = x.copy()
        rebuilt = True
    e = energy_forces(x, box, pi, pj, ps, npairs, f)
    return e, (pi, pj, ps, npairs, xref), rebuilt


def new_nlist(x, diam, box, skin):
    """A fresh neighbour-list tuple (pi, pj, ps, npairs, xref) for energy_forces_auto."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    cap = int(x.shape[0] * 12)
    pi, pj, ps, npairs = build_pairs(x, np.ascontiguousarray(diam, np.float64), np.asarray(box, np.float64), float(skin), cap)
    return (pi, pj, ps, npairs, x.copy())
