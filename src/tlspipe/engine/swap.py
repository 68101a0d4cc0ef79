"""Particle-swap Monte Carlo at fixed positions (Ninarello, Berthier, Coslovich, PRX 7, 021039 (2017)).

A move picks two distinct particles at random and exchanges their diameters; it is accepted with
probability min(1, exp(-dU/T)).  dU is local: only the pair terms of the two particles with their other
neighbours change (sigma_ij is symmetric, so the i-j term itself does not).  Neighbours are found from a
full list built once per block with the largest possible cutoff (positions do not move during a block).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..util.periodic import min_image
from .potential import RC, build_pairs, pair_energy, sij


@njit(cache=True, error_model="numpy")
def full_neighbours(x, box, rcut):
    """CSR full neighbour list (both directions) of pairs closer than rcut: (start, nbr)."""
    n = x.shape[0]
    dummy = np.ones(n)
    ii, jj, _, _, m = build_pairs(x, dummy, box, 0.0, n * 24, rcut)
    counts = np.zeros(n + 1, np.int64)
    for p in range(m):
        counts[ii[p] + 1] += 1
        counts[jj[p] + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    nbr = np.empty(2 * m, np.int32)
    for p in range(m):
        i = ii[p]
        j = jj[p]
        nbr[fill[i]] = j
        fill[i] += 1
        nbr[fill[j]] = i
        fill[j] += 1
    return start, nbr


@njit(cache=True, error_model="numpy")
def _site_energy(x, box, diam, start, nbr, i, si, skip):
    """Sum over neighbours k != skip of v(r_ik; sigma(si, sigma_k))."""
    e = 0.0
    for p in range(start[i], start[i + 1]):
        k = nbr[p]
        if k == skip:
            continue
        dx = x[i, 0] - x[k, 0]
        dy = x[i, 1] - x[k, 1]
        dz = x[i, 2] - x[k, 2]
        dx = min_image(dx, box[0])
        dy = min_image(dy, box[1])
        dz = min_image(dz, box[2])
        e += pair_energy(dx * dx + dy * dy + dz * dz, sij(si, diam[k]))
    return e


@njit(cache=True, error_model="numpy")
def swap_delta(x, box, diam, start, nbr, i, j):
    """Energy change if particles i and j exchange diameters."""
    si = diam[i]
    sj = diam[j]
    old = _site_energy(x, box, diam, start, nbr, i, si, j) + _site_energy(x, box, diam, start, nbr, j, sj, i)
    new = _site_energy(x, box, diam, start, nbr, i, sj, j) + _site_energy(x, box, diam, start, nbr, j, si, i)
    return new - old


@njit(cache=True, error_model="numpy")
def attempt_swap(x, box, diam, start, nbr, i, j, T):
    """One Metropolis move exchanging the diameters of i and j.  Returns (accepted, dU)."""
    du = swap_delta(x, box, diam, start, nbr, i, j)
    if du <= 0.0 or np.random.random() < np.exp(-du / T):
        t = diam[i]
        diam[i] = diam[j]
        diam[j] = t
        return True, du
    return False, 0.0


@njit(cache=True, error_model="numpy")
def swap_block(x, box, diam, n_attempts, T, seed, start, nbr):
    """n_attempts swap moves on uniformly drawn distinct pairs at temperature T; diam is permuted in place.

    Returns (n_accepted, total dU).  seed < 0 continues numba's random stream.
    """
    if seed >= 0:
        np.random.seed(seed)
    n = x.shape[0]
    acc = 0
    du_tot = 0.0
    for _ in range(n_attempts):
        i = np.random.randint(0, n)
        j = np.random.randint(0, n - 1)
        if j >= i:
            j += 1
        ok, du = attempt_swap(x, box, diam, start, nbr, i, j, T)
        if ok:
            acc += 1
            du_tot += du
    return acc, du_tot


@njit(cache=True, error_model="numpy")
def acceptance_rate(x, box, diam, start, nbr, i, j, T, trials, seed):
    """Fraction of accepted attempts of the move (i, j) from the current state (restored after each)."""
    np.random.seed(seed)
    acc = 0
    for _ in range(trials):
        ok, _ = attempt_swap(x, box, diam, start, nbr, i, j, T)
        if ok:
            acc += 1
            t = diam[i]
            diam[i] = diam[j]
            diam[j] = t
    return acc / trials


def swap_mc(x, diameters, box, n_attempts: int, T: float, seed: int = -1):
    """Run n_attempts swap moves; returns (new diameters, n_accepted, dU)."""
    from . import as_box

    box = as_box(box)
    x = np.ascontiguousarray(x, np.float64)
    diam = np.array(diameters, np.float64, copy=True)
    start, nbr = full_neighbours(x, box, RC * float(diam.max()))
    acc, du = swap_block(x, box, diam, int(n_attempts), float(T), int(seed), start, nbr)
    return diam, int(acc), float(du)
