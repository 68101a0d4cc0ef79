"""Generic NEB / string: Mueller-Brown saddles, tangent fallback, reparametrisation, L-BFGS algebra."""

import numpy as np
import pytest
from scipy.optimize import minimize, root

from tlspipe.path.neb import effective_spring, effective_tol, interpolate, neb_forces, reparametrise, run_neb
from tlspipe.path.optimise import lbfgs_direction
from tlspipe.path.profile import arc_length

A = np.array([-200.0, -100.0, -170.0, 15.0])
a_ = np.array([-1.0, -1.0, -6.5, 0.7])
b_ = np.array([0.0, 0.0, 11.0, 0.6])
c_ = np.array([-10.0, -10.0, -6.5, 0.7])
X0 = np.array([1.0, 0.0, -0.5, -1.0])
Y0 = np.array([0.0, 0.5, 1.5, 1.0])


def mueller_brown(p):
    """Energy (...,) and force (..., 2) of the Mueller-Brown surface."""
    p = np.asarray(p, dtype=np.float64)
    x, y = p[..., 0:1], p[..., 1:2]
    dx, dy = x - X0, y - Y0
    t = A * np.exp(a_ * dx * dx + b_ * dx * dy + c_ * dy * dy)
    gx = (t * (2 * a_ * dx + b_ * dy)).sum(-1)
    gy = (t * (b_ * dx + 2 * c_ * dy)).sum(-1)
    return t.sum(-1), np.stack([-gx, -gy], -1)


@pytest.fixture(scope="module")
def mb_points():
    """Minima and saddles located independently (scipy minimize / root on the analytic gradient)."""
    f = lambda p: mueller_brown(p)[0]  # noqa: E731
    g = lambda p: -mueller_brown(p)[1]  # noqa: E731
    mins = [minimize(f, s, jac=g, tol=1e-14).x for s in [(-0.56, 1.44), (0.62, 0.03), (-0.05, 0.47)]]
    sad = [root(g, s, tol=1e-14).x for s in [(-0.82, 0.62), (0.21, 0.29)]]
    return mins, [f(s) for s in sad]


@pytest.mark.parametrize("options", [
    {},  # defaults: string method, L-BFGS
    {"method": "neb", "optimiser": "fire", "spring": 10.0, "dt": 5e-4, "dt_max": 5e-3, "max_move": 0.02},
    {"optimiser": "quickmin", "dt": 2e-3, "max_move": 0.02},
])
@pytest.mark.parametrize("ends, saddle", [((0, 2), 0), ((2, 1), 1), ((0, 1), 0)])
def test_mueller_brown_saddles(mb_points, options, ends, saddle):
    mins, e_sad = mb_points
    xa, xb = mins[ends[0]], mins[ends[1]]
    r = run_neb(xa, xb, mueller_brown, mueller_brown(xa)[0], mueller_brown(xb)[0], atom_dim=2, images=15,
                tol=1e-3, tol_ref_length=0.0, max_iter=20000, **options)
    assert r.converged
    assert r.energy.max() == pytest.approx(e_sad[saddle], abs=1e-3)
    assert r.climb_index == int(np.argmax(r.energy))


def test_string_keeps_images_equally_spaced_on_each_side_of_the_climbing_image(mb_points):
    mins, _ = mb_points
    xa, xb = mins[2], mins[1]
    r = run_neb(xa, xb, mueller_brown, mueller_brown(xa)[0], mueller_brown(xb)[0], atom_dim=2, images=15,
                tol=1e-4, tol_ref_length=0.0)
    seg = np.diff(arc_length(r.band))
    c = r.climb_index
    assert np.ptp(seg[:c]) < 1e-8 and np.ptp(seg[c:]) < 1e-8


def test_short_path_does_not_collapse():
    """A double well of length 0.09 and barrier 0.003 (the size of a TLS): with kappa = 1 the spring force
    (~1e-3) is no larger than the tolerance.  The string method keeps the images apart and converges."""
    L, vb = 0.09, 0.003

    def ef(P):
        P = np.asarray(P)
        x, y = P[..., 0], P[..., 1]
        s = 2 * x / L
        e = vb * (1 - s**2) ** 2 + 0.5 * 20.0 * (y - 0.3 * L * (1 - s**2)) ** 2
        dedx = vb * 2 * (1 - s**2) * (-2 * s) * 2 / L + 20.0 * (y - 0.3 * L * (1 - s**2)) * (0.3 * L * 2 * s * 2 / L)
        dedy = 20.0 * (y - 0.3 * L * (1 - s**2))
        return e, -np.stack([dedx, dedy], -1)

    xa, xb = np.array([-L / 2, 0.0]), np.array([L / 2, 0.0])
    r = run_neb(xa, xb, ef, 0.0, 0.0, atom_dim=2, images=40)
    assert r.converged
    assert r.tol == pytest.approx(1e-4 * L)  # the tolerance scales with the path
    seg = np.diff(arc_length(r.band))
    assert seg.min() > 0.5 * seg.mean()
    assert r.energy.max() == pytest.approx(vb, rel=1e-6)  # the saddle of this surface is at x = 0


def test_tangent_fallback_on_coincident_images():
    X = np.array([[0.0, 0.0], [0.5, 0.0], [0.5, 0.0], [0.5, 0.0], [1.0, 0.0]])
    E = np.zeros(5)  # all energies equal: the energy-weighted tangent is 0/0
    F = np.zeros_like(X)
    F[1:-1] = [0.0, 1.0]
    tau = np.zeros_like(X)
    fneb = np.zeros_like(X)
    fmax = neb_forces(X, E, F, 1.0, -1, 2, False, tau, fneb)
    assert np.all(np.isfinite(tau)) and np.all(np.isfinite(fneb)) and np.isfinite(fmax)
    assert np.allclose(np.linalg.norm(tau[1:-1], axis=1), 1.0)
    assert np.allclose(tau[2], [1.0, 0.0])  # both segments vanish: the end-to-end chord


def test_neb_force_projection_and_climbing():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    E = np.array([0.0, 1.0, 0.0])
    F = np.array([[0.0, 0.0], [0.3, 0.4], [0.0, 0.0]])
    tau, fn = np.zeros_like(X), np.zeros_like(X)
    neb_forces(X, E, F, 1.0, -1, 2, False, tau, fn)
    assert fn[1] == pytest.approx([0.0, 0.4])  # parallel part removed, equal segments: no spring force
    neb_forces(X, E, F, 1.0, 1, 2, False, tau, fn)
    assert fn[1] == pytest.approx([-0.3, 0.4])  # climbing: parallel part inverted
    X[1, 0] = 0.5
    neb_forces(X, E, np.zeros_like(F), 2.0, -1, 2, False, tau, fn)
    assert fn[1] == pytest.approx([2.0 * (1.5 - 0.5), 0.0])  # spring pulls towards the longer segment


def test_remove_translation():
    X = interpolate(np.zeros(6), np.ones(6), 3)
    F = np.zeros_like(X)
    F[1] = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    tau, fn = np.zeros_like(X), np.zeros_like(X)
    neb_forces(X, np.array([0.0, 1.0, 0.0]), F, 0.0, -1, 3, True, tau, fn)
    assert fn[1].reshape(2, 3).sum(axis=0) == pytest.approx(np.zeros(3), abs=1e-15)


def test_reparametrise_equal_arc_length():
    t = np.array([0.0, 0.1, 0.15, 0.7, 1.0])
    line = np.stack([t, 2 * t], 1)
    reparametrise(line, 0, 4)
    assert line[:, 0] == pytest.approx(np.linspace(0, 1, 5)) and line[:, 1] == pytest.approx(2 * line[:, 0])
    X = np.stack([np.cos(t * np.pi / 2), np.sin(t * np.pi / 2)], 1)
    L0 = arc_length(X)[-1]
    reparametrise(X, 0, 4)
    assert arc_length(X)[-1] <= L0  # points on the old polygon: never longer
    for _ in range(100):  # repeated (as in the string iteration) it converges to equal chords
        reparametrise(X, 0, 4)
    assert np.ptp(np.diff(arc_length(X))) < 1e-8
    assert X[0] == pytest.approx([1, 0]) and X[-1] == pytest.approx([0, 1])


def test_lbfgs_two_loop_matches_reference():
    rng = np.random.default_rng(1)
    n, m = 40, 6
    S = rng.normal(size=(m, n))
    Y = S + 0.3 * rng.normal(size=(m, n))
    rho = 1 / np.einsum("ij,ij->i", S, Y)
    g = rng.normal(size=n)
    for count, head in [(0, 0), (1, 3), (4, 2), (6, 5)]:
        idx = [(head - 1 - j) % m for j in range(count)]
        q, al = g.copy(), []
        for k in idx:
            al.append(rho[k] * S[k] @ q)
            q -= al[-1] * Y[k]
        r = 0.7 * q
        for k, a in zip(reversed(idx), reversed(al)):
            r += (a - rho[k] * Y[k] @ r) * S[k]
        d = np.zeros(n)
        lbfgs_direction(g, S, Y, rho, count, head, 0.7, d)
        assert np.allclose(d, -r, atol=1e-12)


def test_scaling_rules():
    assert effective_spring(0.1, 1.0, 1.0, 100.0) == pytest.approx(100.0)
    assert effective_spring(0.5, 1.0, 1.0, 100.0) == pytest.approx(4.0)
    assert effective_spring(2.0, 1.0, 1.0, 100.0) == pytest.approx(1.0)
    assert effective_tol(0.2, 1e-4, 1.0) == pytest.approx(2e-5)
    assert effective_tol(3.0, 1e-4, 1.0) == pytest.approx(1e-4)


def test_bad_options():
    with pytest.raises(TypeError, match="unknown NEB options"):
        run_neb(np.zeros(2), np.ones(2), mueller_brown, 0.0, 0.0, atom_dim=2, bogus=1)
    with pytest.raises(ValueError, match="coincide"):
        run_neb(np.zeros(2), np.zeros(2), mueller_brown, 0.0, 0.0, atom_dim=2)
    with pytest.raises(ValueError, match="unknown NEB method"):
        run_neb(np.zeros(2), np.ones(2), mueller_brown, 0.0, 0.0, atom_dim=2, method="x")
