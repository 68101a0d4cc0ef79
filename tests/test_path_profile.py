"""Profile analysis: arc length, double-well test, extension, E_qs and barrier on paths with known answers."""

import math

import numpy as np
import pytest

from tlspipe.path.profile import analyse_path, arc_length, classical_barrier, double_well_test, extension_steps
from tlspipe.path.schrodinger import solve_levels


def dw(xi, vb=0.05, asym=0.0):
    return vb * (1 - (2 * xi - 1) ** 2) ** 2 + asym * xi


def test_arc_length_of_a_polygon():
    band = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 10.0]])
    assert arc_length(band) == pytest.approx([0.0, 5.0, 11.0])


def test_double_well_accepts_a_clean_double_well():
    xi = np.linspace(0, 1, 40)
    t = double_well_test(dw(xi, asym=0.01))
    assert t.is_dw and t.n_maxima == 1 and t.n_interior_minima == 0
    assert classical_barrier(dw(xi, asym=0.01)) == pytest.approx(np.max(dw(xi, asym=0.01)))


def test_double_well_rejects_an_intermediate_minimum():
    xi = np.linspace(0, 1, 41)
    v = 0.05 * np.sin(2 * np.pi * xi * 1.5) ** 2  # minima at 0, 1/3, 2/3, 1
    t = double_well_test(v)
    assert not t.is_dw and t.n_interior_minima == 2 and "minim" in t.reason


def test_double_well_ignores_noise_below_tolerance_but_not_above():
    xi = np.linspace(0, 1, 40)
    v = dw(xi)
    v_noisy = v.copy()
    v_noisy[5] += 5e-7 * np.sign(v[4] - v[5])  # tiny wiggle on the flank
    v_noisy[6] -= 5e-7
    assert double_well_test(v_noisy, abs_tol=1e-6, rel_tol=0).is_dw
    w = v.copy()
    w[8] = w[7] - 1e-4  # a real dip of 1e-4 epsilon
    assert not double_well_test(w, abs_tol=1e-6, rel_tol=0).is_dw


def test_double_well_rejects_monotone_and_end_not_minimum():
    xi = np.linspace(0, 1, 30)
    t = double_well_test(0.1 * xi)  # no barrier: the upper end is not a minimum
    assert not t.is_dw and t.reason == "no barrier"
    v = dw(xi)
    v[0] = v[1] + 1e-3  # the end sits above its neighbour: a band that slid off a non-minimum end
    assert not double_well_test(v).is_dw


def test_extension_steps_grow():
    s = extension_steps(40, first=16)
    assert s[:16] == pytest.approx(np.arange(1, 17))
    assert np.all(np.diff(s)[15:31] == 2.0) and np.all(np.diff(s)[31:] == 4.0)


class Line:
    """A potential whose minimum energy path is a straight line of length L along u in 3 dimensions:
    V = Vb (1 - (2 s / L)^2)^2 + a s + k |r_perp|^2 / 2, s measured from the midpoint."""

    def __init__(self, L=0.4, vb=0.02, a=0.0, k=5.0):
        self.L, self.vb, self.a, self.k = L, vb, a, k
        self.u = np.array([1.0, 2.0, 2.0]) / 3.0
        self.r0 = np.array([0.3, -0.1, 0.2])

    def along(self, s):
        return self.vb * (1 - (2 * s / self.L) ** 2) ** 2 + self.a * s

    def energy(self, r):
        r = np.asarray(r).reshape(3) - self.r0
        s = r @ self.u
        perp = r - s * self.u
        return self.along(s) + 0.5 * self.k * perp @ perp

    def band(self, n):
        s = np.linspace(-self.L / 2, self.L / 2, n)
        return self.r0 + s[:, None] * self.u


@pytest.mark.parametrize("a", [0.0, 0.01])
def test_analyse_path_reproduces_the_direct_solution(a):
    line = Line(a=a)
    band = line.band(40)
    energy = np.array([line.energy(r) for r in band])
    hbar = 0.03
    ana = analyse_path(band, energy, line.energy, hbar)
    assert ana.status == "dw"
    assert ana.d == pytest.approx(line.L)
    assert ana.delta_e == pytest.approx(abs(energy[-1] - energy[0]))
    assert ana.barrier == pytest.approx(line.vb + a * 0 - min(line.along(-line.L / 2), line.along(line.L / 2)),
                                        abs=2e-4)
    ref = solve_levels(line.along, -1.5 * line.L, 1.5 * line.L, hbar, n_grid=3001)
    assert ana.e_qs == pytest.approx(ref.splitting, rel=2e-3)
    assert ana.edge_weight < 1e-8
    assert np.isfinite(ana.delta0) and ana.delta0 > 0


def test_analyse_path_uses_the_physical_length():
    # the same profile over twice the length has a smaller splitting (heavier effective mass m d^2)
    short, long_ = Line(L=0.3), Line(L=0.6)
    res = []
    for line in (short, long_):
        band = line.band(40)
        res.append(analyse_path(band, [line.energy(r) for r in band], line.energy, 0.03).e_qs)
    assert res[1] < 0.8 * res[0]


def test_not_dw_has_no_splitting():
    line = Line()
    band = line.band(41)
    e = np.array([line.energy(r) for r in band])
    e[20] = e[19] - 0.01  # an intermediate minimum
    ana = analyse_path(band, e, line.energy, 0.03)
    assert ana.status == "not_dw" and math.isnan(ana.e_qs) and ana.barrier > 0


def test_unknown_option():
    line = Line()
    band = line.band(10)
    with pytest.raises(TypeError, match="unknown profile options"):
        analyse_path(band, [line.energy(r) for r in band], line.energy, 0.03, nonsense=1)
