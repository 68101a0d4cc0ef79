"""1D Schroedinger solver and WKB element against analytic and reference values (published splittings of the two model double wells and the quartic oscillator)."""

import math

import numpy as np
import pytest

from tlspipe.path.schrodinger import solve_levels, wkb_delta0


@pytest.mark.parametrize("a, ref", [(1.0, 0.4247742), (2.0, 0.04217228), (3.0, 4.197499e-4)])
def test_double_harmonic_splitting(a, ref):
    lev = solve_levels(lambda x: 0.5 * (np.abs(x) - a) ** 2, -a - 9.0, a + 9.0, hbar=1.0, mass=1.0)
    assert abs(lev.splitting / ref - 1.0) < 1e-4
    assert lev.edge_weight < 1e-12


@pytest.mark.parametrize("vb, ref", [(5.0, 4.812926e-3), (10.0, 2.576712e-4), (20.0, 3.192892e-6)])
def test_quartic_double_well_splitting(vb, ref):
    lev = solve_levels(lambda x: vb * (1.0 - (2.0 * x / 4.0) ** 2) ** 2, -5.0, 5.0, hbar=1.0, mass=1.0)
    assert abs(lev.splitting / ref - 1.0) < 1e-4


def test_quartic_oscillator_levels():
    # -psi'' + x^4 psi = E psi  <=>  hbar = 1, m = 1/2
    lev = solve_levels(lambda x: x**4, -7.0, 7.0, hbar=1.0, mass=0.5)
    assert lev.energies == pytest.approx([1.0603620905, 3.7996730298], rel=1e-6)


def test_harmonic_oscillator_scales_with_hbar_and_mass():
    # V = k x^2 / 2 with k = 4, m = 2, hbar = 0.03: E_n = hbar omega (n + 1/2), omega = sqrt(k/m)
    hbar, m, k = 0.03, 2.0, 4.0
    lev = solve_levels(lambda x: 0.5 * k * x**2, -1.0, 1.0, hbar=hbar, mass=m)
    w = math.sqrt(k / m)
    assert lev.energies == pytest.approx([0.5 * hbar * w, 1.5 * hbar * w], rel=1e-6)


def test_richardson_improves_on_plain_grid():
    v = lambda x: 0.5 * (np.abs(x) - 2.0) ** 2  # noqa: E731
    plain = solve_levels(v, -11, 11, 1.0, n_grid=1001, richardson=False).splitting
    rich = solve_levels(v, -11, 11, 1.0, n_grid=1001, richardson=True).splitting
    assert abs(rich / 0.04217228 - 1) < 0.1 * abs(plain / 0.04217228 - 1)


def test_edge_weight_flags_a_box_that_is_too_small():
    lev = solve_levels(lambda x: 0.5 * x**2, -1.0, 1.0, hbar=1.0)
    assert lev.edge_weight > 1e-4


def test_bad_input():
    with pytest.raises(ValueError, match="x_max > x_min"):
        solve_levels(lambda x: x**2, 1.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        solve_levels(lambda x: x**2, -1.0, 1.0, 0.0)


@pytest.mark.parametrize("a", [2.0, 3.0, 4.0])
def test_wkb_action_of_double_harmonic_well(a):
    # V = (|x| - a)^2 / 2, hbar = m = omega = 1: E_ref = 1/2, inner turning points x = +-(a - 1),
    # action = 2 int_1^a sqrt(u^2 - 1) du = a sqrt(a^2 - 1) - acosh(a)
    w = wkb_delta0(lambda x: 0.5 * (np.abs(x) - a) ** 2, -a, a, 0.0, hbar=1.0, mass=1.0)
    action = a * math.sqrt(a * a - 1) - math.acosh(a)
    assert w.action == pytest.approx(action, rel=1e-8)
    assert w.delta0 == pytest.approx(math.exp(-action) / math.pi, rel=1e-8)
    assert w.turning_points == pytest.approx((-(a - 1), a - 1), abs=1e-9)


def test_wkb_close_to_exact_splitting_for_a_deep_symmetric_well():
    # the two-level picture: for a deep symmetric double well Delta0 approximates E1 - E0
    v = lambda x: 0.5 * (np.abs(x) - 4.0) ** 2  # noqa: E731
    exact = solve_levels(v, -13, 13, 1.0).splitting
    w = wkb_delta0(v, -4.0, 4.0, 0.0, 1.0)
    assert 0.8 < w.delta0 / exact < 1.2


def test_wkb_without_forbidden_region():
    w = wkb_delta0(lambda x: 0.5 * (np.abs(x) - 0.5) ** 2, -0.5, 0.5, 0.0, hbar=1.0)
    assert w.action == 0.0
    assert w.delta0 == pytest.approx(1.0 / math.pi, rel=1e-6)
