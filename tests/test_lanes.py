"""Configurations in SIMD lanes (tlspipe.engine.lanes) against the single-configuration engine."""

import numpy as np
import pytest

from tlspipe import engine
from tlspipe.engine.lanes import LaneFIRE, LaneMD, canonical_list, lane_energy_forces
from tlspipe.engine.potential import energy_forces

T = 0.04


@pytest.fixture(scope="module")
def snaps(small_glass):
    """12 MD snapshots at T = 0.04 of the N = 200 glass, 4 trajectories, 3 snapshots each (unwrapped)."""
    x, diam, box = small_glass
    out = []
    for t in range(4):
        sim = engine.MD(x, engine.maxwell_velocities(len(diam), T, np.random.default_rng([9, t])), diam, box)
        for _ in range(3):
            sim.run(30, dt=0.01)
            out.append(sim.x.copy())
    return np.array(out), diam, box


def test_lane_forces_equal_single_configuration_forces(snaps):
    X, diam, box = snaps
    E, F = lane_energy_forces(X, diam, box)
    ff = engine.ForceField(diam, box)
    for k in range(len(X)):
        e, f = ff.energy_forces(X[k])
        assert E[k] == pytest.approx(e, rel=1e-13, abs=1e-12)
        np.testing.assert_allclose(F[k], f, rtol=0, atol=1e-12)
        # the same list order in the single kernel: the same bits (exact zeros of unlisted pairs change no sum)
        fb = np.empty_like(f)
        assert energy_forces(np.ascontiguousarray(X[k]), box, *canonical_list(X[k], diam, box, 0.3), fb) == E[k]
        assert np.array_equal(fb, F[k])
    # and the forces are the gradient: a central difference on one coordinate
    h = 1e-6
    xp, xm = X[0].copy(), X[0].copy()
    xp[7, 1] += h
    xm[7, 1] -= h
    Ep, _ = lane_energy_forces(np.array([xp, xm]), diam, box)
    assert -(Ep[0] - Ep[1]) / (2 * h) == pytest.approx(F[0][7, 1], rel=1e-6, abs=1e-7)


def test_explicit_8_lane_vectors_give_the_bits_of_the_lane_loop(snaps):
    """band_energy_forces_shared runs 8-lane vectors (engine.simd) on C-contiguous arrays whose width is a
    multiple of 8, its plain loop otherwise (here: a strided view): the same energies and forces, bit for bit,
    in every lane, and the single-configuration kernel's bits on the same list."""
    from tlspipe.engine.potential import band_energy_forces_shared

    X, diam, box = snaps
    L = len(X)
    W = 16
    XT = np.empty((X.shape[1], 3, W))
    XT[:, :, :L] = np.transpose(X, (1, 2, 0))
    XT[:, :, L:] = XT[:, :, :W - L] + 0.01  # the padding lanes hold other configurations, not copies
    ref = X.mean(axis=0)
    pi, pj, ps, sh, m = canonical_list(ref, diam, box, 1.0)
    FT, ET = np.empty_like(XT), np.empty(W)
    band_energy_forces_shared(XT, pi, pj, ps, sh, m, ET, FT)
    big = np.empty((X.shape[1], 3, 2 * W))  # every other column: not contiguous, so the loop runs
    XS, FS, ES = big[:, :, ::2], np.empty((X.shape[1], 3, 2 * W))[:, :, ::2], np.empty(2 * W)[::2]
    XS[:] = XT
    band_energy_forces_shared(XS, pi, pj, ps, sh, m, ES, FS)
    assert np.array_equal(FT, FS) and np.array_equal(ET, ES)
    f = np.empty((X.shape[1], 3))
    for k in (0, 5, W - 1):
        e = energy_forces(np.ascontiguousarray(XT[:, :, k]), box, pi, pj, ps, sh, m, f)
        assert e == ET[k] and np.array_equal(f, FT[:, :, k])
    assert np.any(FT[:, :, L:] != FT[:, :, :W - L])  # the lanes are independent (not one lane broadcast)


def test_a_lane_too_spread_for_the_shared_list_is_evicted_and_still_right(snaps):
    """A lane whose particles are far from the others' (here: one translated by 0.9 sigma, beyond max_allow) is
    served by its own list: the same bits as in a lane group of its own."""
    X, diam, box = snaps
    Y = X[:5].copy()
    Y[2] += 0.9
    E, F = lane_energy_forces(Y, diam, box, max_allow=0.4)
    E1, F1 = lane_energy_forces(Y[2:3], diam, box)
    assert E[2] == E1[0] and np.array_equal(F[2], F1[0])
    e, f = engine.ForceField(diam, box).energy_forces(Y[2])
    assert E[2] == pytest.approx(e, rel=1e-13) and np.abs(F[2] - f).max() < 1e-12


def test_lane_fire_reaches_the_single_fire_minimum(snaps):
    """FIRE in lanes takes the steps of minimise.fire_minimise: the same step count and the same minimum (to
    rounding), snapshot by snapshot, with lanes refilled as descents finish (5 lanes' worth of 12)."""
    X, diam, box = snaps
    res = LaneFIRE(diam, box, width=8, ftol=1e-8).run(list(X))
    for x, (xl, el, fml, steps, hit) in zip(X, res):
        xs, rs = engine.fire_minimise(x, diam, box, ftol=1e-8)
        assert rs.converged and fml < 1e-8 and hit == -1
        assert steps == rs.n_steps
        assert el == pytest.approx(rs.energy, rel=1e-12)
        assert np.abs(xl - xs).max() < 1e-8


def test_a_lane_descent_does_not_depend_on_its_companions(snaps):
    X, diam, box = snaps
    alone = LaneFIRE(diam, box, width=1, ftol=1e-8).run([X[5]])[0]
    crowd = LaneFIRE(diam, box, width=16, ftol=1e-8).run(list(X[::-1]))[len(X) - 1 - 5]
    assert alone[3] == crowd[3] and alone[1] == crowd[1] and np.array_equal(alone[0], crowd[0])
    # 32 lanes run the FIRE passes as the compiler's loops, 8 and 16 as explicit vectors: the same bits
    from tlspipe.engine.lanes import VEC_PASS_LANES

    assert VEC_PASS_LANES < 32
    wide = LaneFIRE(diam, box, width=32, ftol=1e-8).run(list(X))[5]
    assert wide[3] == alone[3] and wide[1] == alone[1] and np.array_equal(wide[0], alone[0])


def test_lane_early_stop_names_the_known_minimum_as_the_single_descent(snaps):
    X, diam, box = snaps
    kw = dict(exit_energy=1e-4, exit_distance=0.02, exit_harmonic=0.2)
    mins = [engine.fire_minimise(x, diam, box, ftol=1e-10) for x in X[:6]]
    refs = np.array([m[0] for m in mins])
    known = (refs, np.array([m[1].energy for m in mins]), len(mins))
    res = LaneFIRE(diam, box, width=8, ftol=1e-6, **kw).run(list(X[:6]), known=known)
    hits = 0
    for x, (xl, el, fml, steps, hit) in zip(X[:6], res):
        _, rs = engine.fire_minimise(x, diam, box, ftol=1e-6, known=known, **kw)
        assert (hit, steps) == (rs.known, rs.n_steps)
        hits += hit >= 0
    assert hits >= 3  # the test tests something


def test_lane_md_follows_single_md_and_conserves_energy_as_it_does(small_glass):
    x, diam, box = small_glass
    n = len(diam)
    V = [engine.maxwell_velocities(n, T, np.random.default_rng([3, t])) for t in range(3)]
    lm = LaneMD(np.array([x] * 3), np.array(V), diam, box)
    sims = [engine.MD(x, v, diam, box) for v in V]
    ff = engine.ForceField(diam, box)
    e0_single = [ff.energy(x) + engine.md.kinetic(v) for v in V]
    e0_lanes = lm.epot + lm.ekin
    np.testing.assert_allclose(e0_lanes, e0_single, rtol=1e-13)
    lm.run(50, dt=0.01)
    for k, s in enumerate(sims):
        s.run(50, dt=0.01)
        assert np.abs(lm.positions(k) - s.x).max() < 1e-9  # before chaos parts them: the same trajectory
    drift = {"single": [], "lanes": []}
    for _ in range(10):
        lm.run(100, dt=0.01)
        drift["lanes"].append(np.abs(lm.epot + lm.ekin - e0_lanes).max() / n)
        for k, s in enumerate(sims):
            s.run(100, dt=0.01)
        drift["single"].append(max(abs(ff.energy(s.x) + engine.md.kinetic(s.v) - e0_single[k]) / n
                                   for k, s in enumerate(sims)))
    assert max(drift["single"]) < 1e-4  # velocity Verlet at dt = 0.01 conserves energy
    assert max(drift["lanes"]) < 2 * max(drift["single"]) + 1e-7
    assert lm.forces.n_builds >= 2  # the shared list was rebuilt as the lanes moved apart


def test_float32_lane_forces_are_the_float64_ones_to_single_precision(snaps):
    """band_energy_forces_shared32 (LaneForces dtype float32) against the double-precision lanes: forces within
    1e-5 of the largest force component, energies within 1e-6 relative (float32 rounding, ~6e-8, summed over
    ~1,500 pairs), and not equal (it is single precision)."""
    from tlspipe.engine.lanes import LaneForces

    X, diam, box = snaps
    E, F = lane_energy_forces(X, diam, box)
    W = 16
    XT = np.zeros((len(diam), 3, W), np.float32)
    XT[:, :, : len(X)] = np.transpose(X, (1, 2, 0))
    XT[:, :, len(X):] = XT[:, :, len(X) - 1: len(X)]
    FT = np.empty_like(XT)
    ET = np.empty(W, np.float32)
    live = np.zeros(W, np.bool_)
    live[: len(X)] = True
    LaneForces(diam, box, W, dtype=np.float32)(XT, FT, ET, live)
    F32 = np.transpose(FT[:, :, : len(X)], (2, 0, 1)).astype(np.float64)
    scale = np.abs(F).max()
    err = np.abs(F32 - F).max() / scale
    assert 0 < err < 1e-5
    np.testing.assert_allclose(ET[: len(X)], E, rtol=1e-6)
    with pytest.raises(ValueError, match="float64 or float32"):
        LaneForces(diam, box, W, dtype=np.int32)


def test_mixed_precision_lane_fire_reaches_the_single_fire_minimum(snaps):
    """MixedLaneFIRE: float32 lanes until max|F| < switch_force, then float64 to ftol: the minimum of
    fire_minimise (energy to 1e-11 relative, positions to 1e-6), converged in double precision, with both stages
    used (8 + 8 lanes for 12 descents: refills and waits for a float64 lane)."""
    from tlspipe.engine.lanes import MixedLaneFIRE

    X, diam, box = snaps
    mixed = MixedLaneFIRE(diam, box, width=16, ftol=1e-8, switch_force=1e-2)
    res = mixed.run(list(X))
    assert mixed.low.n_steps_total > 0 and mixed.high.n_steps_total > 0
    assert mixed.low.W == 8 and mixed.high.W == 8
    for x, (xl, el, fml, steps, hit) in zip(X, res):
        xs, rs = engine.fire_minimise(x, diam, box, ftol=1e-8)
        assert fml < 1e-8 and hit == -1
        assert el == pytest.approx(rs.energy, rel=1e-11)
        assert np.abs(xl - xs).max() < 1e-6
        assert abs(steps - rs.n_steps) <= 0.2 * rs.n_steps  # not step for step, but the same descent
    with pytest.raises(ValueError, match="switch_force"):
        MixedLaneFIRE(diam, box, width=16, ftol=1e-2, switch_force=1e-3)


def test_mixed_precision_early_stop_names_the_single_descents_minimum(snaps):
    from tlspipe.engine.lanes import MixedLaneFIRE

    X, diam, box = snaps
    kw = dict(exit_energy=1e-4, exit_distance=0.02, exit_harmonic=0.2)
    mins = [engine.fire_minimise(x, diam, box, ftol=1e-10) for x in X[:6]]
    known = (np.array([m[0] for m in mins]), np.array([m[1].energy for m in mins]), len(mins))
    res = MixedLaneFIRE(diam, box, width=16, ftol=1e-6, **kw).run(list(X[:6]), known=known)
    hits = 0
    for x, (xl, el, fml, steps, hit) in zip(X[:6], res):
        _, rs = engine.fire_minimise(x, diam, box, ftol=1e-6, known=known, **kw)
        assert hit == rs.known
        hits += hit >= 0
    assert hits >= 3


def test_explore_refuses_an_unknown_lane_precision(small_glass):
    from tlspipe.sample.defaults import EXPLORE_DEFAULTS
    from tlspipe.sample.explore import run_trajectory

    x, diam, box = small_glass
    p = dict(EXPLORE_DEFAULTS, traj_time=0.2, tau_quench=0.1, lane_precision="half")
    with pytest.raises(ValueError, match="explore.lane_precision"):
        run_trajectory(x, diam, box, 0, 1, p)


def test_a_nan_force_is_never_a_small_force():
    """max_i |F_i| is NaN when any force is (one at a time and in lanes): a descent whose forces went NaN is not
    converged, and a lane started from non-finite positions is refused as fire_minimise refuses them."""
    from tlspipe.engine.lanes import _lane_max_force
    from tlspipe.engine.potential import max_force

    f = np.zeros((5, 3))
    f[1, 0] = 1e-3
    f[3, 2] = np.nan
    assert np.isnan(max_force(f))
    assert max_force(np.nan_to_num(f)) == pytest.approx(1e-3)
    FT = np.zeros((5, 3, 8))
    FT[:, :, 2] = f
    FT[1, 0, 4] = 1e-3
    out = np.empty(8)
    _lane_max_force(FT, out)
    assert np.isnan(out[2]) and out[4] == pytest.approx(1e-3) and out[0] == 0.0


def test_a_lane_refuses_non_finite_positions(small_glass):
    x, diam, box = small_glass
    bad = np.array(x, float)
    bad[3, 1] = np.nan
    with pytest.raises(engine.NonFiniteError):
        LaneFIRE(diam, box, width=8).start(0, bad)
