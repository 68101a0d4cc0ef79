"""One-dimensional Schroedinger equation by finite differences, and the WKB tunnelling element.

The equation solved is

    -(hbar^2 / 2m) psi''(x) + V(x) psi(x) = E psi(x),      psi = 0 outside [x_min, x_max],

on a uniform grid with the three-point Laplacian (a symmetric tridiagonal matrix, diagonalised with
``scipy.linalg.eigh_tridiagonal`` for the lowest levels only).  With x = xi * d (xi the normalised
reaction coordinate, d the path length) this is the equation of the paper,
-(hbar^2 / 2 m d^2) psi''(xi) + V(xi) psi = E psi.

Accuracy: the three-point error is O(h^2).  By default the levels are computed on two nested grids (h and
h/2) and Richardson-extrapolated, (4 E(h/2) - E(h)) / 3, which removes the h^2 term for smooth V; for a
monotone-spline V (continuous first derivative only) the extrapolation is still no worse than the finer grid.
Energies are in the units of V (epsilon), x in sigma, hbar in reduced units (``tlspipe.model``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.integrate import IntegrationWarning, quad
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import brentq


@dataclass
class Levels:
    energies: np.ndarray  # lowest levels, ascending (units of V)
    x: np.ndarray  # grid of the finest solve
    psi: np.ndarray  # (n_levels, n) normalised eigenvectors on that grid (sum psi^2 h = 1)
    edge_weight: float  # largest probability within 2% of either edge among the returned levels

    @property
    def splitting(self) -> float:
        return float(self.energies[1] - self.energies[0])


def _fd_levels(v: np.ndarray, h: float, hbar: float, mass: float, n_levels: int, vectors: bool):
    t = hbar * hbar / (2.0 * mass * h * h)
    shift = float(np.min(v))  # keeps the diagonal small: better absolute accuracy of the eigenvalues
    diag = (v - shift) + 2.0 * t
    off = np.full(v.size - 1, -t)
    if vectors:
        w, z = eigh_tridiagonal(diag, off, select="i", select_range=(0, n_levels - 1))
        return w + shift, z
    w = eigh_tridiagonal(diag, off, eigvals_only=True, select="i", select_range=(0, n_levels - 1))
    return w + shift, None


def solve_levels(potential, x_min: float, x_max: float, hbar: float, mass: float = 1.0, n_grid: int = 3001,
                 n_levels: int = 2, richardson: bool = True) -> Levels:
    """Lowest ``n_levels`` eigenvalues of -(hbar^2/2m) d^2/dx^2 + V(x) with psi(x_min) = psi(x_max) = 0.

    potential: vectorised callable V(x) (same units as the returned energies).
    n_grid: points of the coarse grid including both (Dirichlet) ends; with ``richardson`` a second grid of
    2 n_grid - 1 points is solved as well and the two results are extrapolated.
    """
    if not (x_max > x_min):
        raise ValueError(f"need x_max > x_min, got [{x_min}, {x_max}]")
    if n_grid < 5 * n_levels:
        raise ValueError(f"n_grid={n_grid} too small for {n_levels} levels")
    if hbar <= 0 or mass <= 0:
        raise ValueError(f"hbar and mass must be positive (hbar={hbar}, mass={mass})")
    grids = [n_grid, 2 * n_grid - 1] if richardson else [n_grid]
    results = []
    for k, n in enumerate(grids):
        x = np.linspace(x_min, x_max, n)
        h = x[1] - x[0]
        v = np.asarray(potential(x[1:-1]), dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise ValueError("the potential is not finite on the grid")
        last = k == len(grids) - 1
        w, z = _fd_levels(v, h, hbar, mass, n_levels, vectors=last)
        results.append(w)
    e = results[-1] if not richardson else (4.0 * results[1] - results[0]) / 3.0
    psi = np.zeros((n_levels, x.size))
    psi[:, 1:-1] = (z / math.sqrt(h)).T
    edge = max(2, int(0.02 * x.size))
    p = psi**2 * h
    edge_weight = float(max(p[:, :edge].sum(axis=1).max(), p[:, -edge:].sum(axis=1).max()))
    return Levels(np.asarray(e), x, psi, edge_weight)


# ----------------------------------------------------------------------------- WKB


@dataclass
class WKB:
    delta0: float  # (hbar omega / pi) exp(-action / hbar), units of V
    action: float  # integral of |p| between the inner turning points (hbar units: divide by hbar)
    omega: float  # mean of the two well frequencies sqrt(V''/m)
    e_ref: float  # energy at which the turning points are taken
    turning_points: tuple  # (x_left, x_right); equal to the barrier top when e_ref >= V_max


def wkb_delta0(potential, x_left: float, x_right: float, x_top: float, hbar: float, mass: float = 1.0,
               omega_left: float | None = None, omega_right: float | None = None) -> WKB:
    """WKB tunnelling element Delta0 = (hbar omega / pi) exp(-(1/hbar) int |p| dx) of a double well.

    potential: vectorised callable V(x); x_left, x_right: the two minima; x_top: the barrier maximum.
    Conventions (the paper refers to Khomenko et al. for this quantity without details):
    omega_k = sqrt(V''(x_k)/m) of each well (given, or from a centred finite difference of V),
    omega = (omega_left + omega_right)/2; the reference energy is the mean zero-point level
    E_ref = [V(x_left) + hbar omega_left/2 + V(x_right) + hbar omega_right/2] / 2; |p| = sqrt(2m(V - E_ref))
    is integrated between the inner turning points V = E_ref.  When E_ref is above the barrier top there is
    no classically forbidden region: the action is 0 and Delta0 = hbar omega / pi.
    """
    v = lambda x: float(potential(np.asarray([x], dtype=np.float64))[0])  # noqa: E731

    def curv(x0, width):
        hh = 1e-3 * width
        return (v(x0 + hh) - 2 * v(x0) + v(x0 - hh)) / (hh * hh)

    if omega_left is None:
        omega_left = math.sqrt(max(curv(x_left, x_top - x_left), 0.0) / mass)
    if omega_right is None:
        omega_right = math.sqrt(max(curv(x_right, x_right - x_top), 0.0) / mass)
    omega = 0.5 * (omega_left + omega_right)
    e_ref = 0.5 * (v(x_left) + 0.5 * hbar * omega_left + v(x_right) + 0.5 * hbar * omega_right)
    vtop = v(x_top)
    if e_ref >= vtop:
        return WKB(hbar * omega / math.pi, 0.0, omega, e_ref, (x_top, x_top))
    g = lambda x: v(x) - e_ref  # noqa: E731
    a = brentq(g, x_left, x_top, xtol=1e-14 * max(1.0, abs(x_top))) if g(x_left) < 0 else x_left
    b = brentq(g, x_top, x_right, xtol=1e-14 * max(1.0, abs(x_top))) if g(x_right) < 0 else x_right
    integrand = lambda x: math.sqrt(2.0 * mass * max(v(x) - e_ref, 0.0))  # noqa: E731
    with warnings.catch_warnings():  # sqrt(V - E) has integrable square-root ends at the turning points
        warnings.simplefilter("ignore", IntegrationWarning)
        s1, _ = quad(integrand, a, x_top, limit=200, epsabs=0.0, epsrel=1e-10)
        s2, _ = quad(integrand, x_top, b, limit=200, epsabs=0.0, epsrel=1e-10)
    action = s1 + s2
    return WKB(hbar * omega / math.pi * math.exp(-action / hbar), action, omega, e_ref, (a, b))
