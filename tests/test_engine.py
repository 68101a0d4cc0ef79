"""The native engine against independent references: the authors' minima, finite differences, the
analytic cutoff conditions, energy conservation, and exact Boltzmann statistics for swap moves."""

import itertools

import numpy as np
import pytest

from tlspipe import engine, model
from tlspipe.engine.swap import full_neighbours, swap_block

from conftest import read_fixture_conf


def brute_energy(x, diam, box):
    dx = x[:, None, :] - x[None, :, :]
    dx -= box * np.rint(dx / box)
    r = np.sqrt((dx**2).sum(-1))
    s = model.sigma_ij(diam[:, None], diam[None, :])
    iu = np.triu_indices(len(x), 1)
    return model.pair_potential(r[iu], s[iu]).sum()


@pytest.mark.parametrize("name", ["2.044810139E-01.conf.txt", "2.046749726E-01.conf.txt"])
def test_fixture_minima(fixture_dir, name):
    x, diam, box = read_fixture_conf(fixture_dir / name)
    e, f = engine.ForceField(diam, box).energy_forces(x)
    assert abs(e / len(x) - float(name[:15])) <= 1e-9
    assert np.sqrt((f**2).sum(1)).max() < 1e-3


def test_energy_matches_brute_force(small_glass):
    x, diam, box = small_glass
    rng = np.random.default_rng(1)
    y = x + rng.normal(0, 0.05, x.shape) + box * rng.integers(-2, 3, x.shape)  # unwrapped images too
    assert engine.ForceField(diam, box).energy(y) == pytest.approx(brute_energy(y, diam, box), rel=1e-12)


def test_forces_are_minus_gradient():
    n = 150
    rng = np.random.default_rng(3)
    box = model.box_length(n, density=1.2)  # compressed: many pairs deep in the repulsive core
    diam = rng.permutation(model.diameters(n))
    x = engine.lattice_start(n, box, rng, 0.3)
    ff = engine.ForceField(diam, box)
    _, f = ff.energy_forces(x)
    h = 1e-6
    g = np.empty_like(x)
    for i in range(n):
        for d in range(3):
            xp = x.copy()
            xp[i, d] += h
            xm = x.copy()
            xm[i, d] -= h
            g[i, d] = (ff.energy(xp) - ff.energy(xm)) / (2 * h)
    assert np.abs(f).max() > 1.0  # a real test: forces are not small
    assert np.linalg.norm(f + g) / np.linalg.norm(f) <= 1e-6


def test_potential_vanishes_smoothly_at_cutoff():
    rc = model.RC_FACTOR
    v = rc**-12 + model.C0 + model.C2 * rc**2 + model.C4 * rc**4
    dv = -12 * rc**-13 + 2 * model.C2 * rc + 4 * model.C4 * rc**3
    d2v = 156 * rc**-14 + 2 * model.C2 + 12 * model.C4 * rc**2
    assert max(abs(v), abs(dv), abs(d2v)) <= 1e-12
    # the compiled kernel uses the same constants and cuts at rc
    from tlspipe.engine.potential import pair_energy

    s = 1.3
    assert pair_energy((rc * s * (1 - 1e-7)) ** 2, s) == pytest.approx(0.0, abs=1e-12)
    assert pair_energy((rc * s * (1 + 1e-12)) ** 2, s) == 0.0
    assert pair_energy(0.9**2, 1.0) == pytest.approx(model.pair_potential(0.9, 1.0), rel=1e-14)


def test_fire_reaches_tolerance(small_glass):
    x, diam, box = small_glass
    ff = engine.ForceField(diam, box)
    e0, f = ff.energy_forces(x)
    assert np.sqrt((f**2).sum(1)).max() < 1e-10
    rng = np.random.default_rng(5)
    for _ in range(5):  # a minimum: random small displacements raise the energy
        assert ff.energy(x + rng.normal(0, 1e-3, x.shape)) > e0


def test_nve_conserves_energy():
    n = 500
    rng = np.random.default_rng(7)
    box = model.box_length(n)
    diam = rng.permutation(model.diameters(n))
    x, _ = engine.fire_minimise(engine.lattice_start(n, box, rng, 0.2), diam, box, ftol=1e-6)
    v = engine.maxwell_velocities(n, 0.04, rng)
    sim = engine.MD(x, v, diam, box)
    trace = sim.run(10_000, dt=0.01, thermostat="nve", sample_every=100)
    etot = trace.sum(1) / n
    assert sim.n_rebuilds > 0  # the list was rebuilt during the run, and energy still conserved
    assert abs(etot[-1] - etot[0]) < 1e-4
    assert np.ptp(etot) < 1e-3
    assert 0.01 < sim.temperature < 0.05


@pytest.mark.parametrize("thermostat", ["berendsen", "langevin"])
def test_thermostats_reach_target(small_glass, thermostat):
    x, diam, box = small_glass
    n = len(x)
    rng = np.random.default_rng(11)
    sim = engine.MD(x, engine.maxwell_velocities(n, 0.3, rng), diam, box)
    sim.run(2000, dt=0.005, thermostat=thermostat, T=0.1, tau=0.1, gamma=2.0, seed=1)
    trace = sim.run(4000, dt=0.005, thermostat=thermostat, T=0.1, tau=0.1, gamma=2.0, seed=2, sample_every=10)
    t_mean = (2 * trace[:, 1] / (3 * n - 3)).mean()
    assert t_mean == pytest.approx(0.1, rel=0.05)


def _three_body():
    box = np.array([10.0, 10.0, 10.0])
    x = np.array([[0.0, 0.0, 0.0], [0.95, 0.0, 0.0], [0.45, 0.95, 0.0]])
    diam = np.array([0.8, 1.0, 1.25])
    return x, diam, box


def _three_body_states():
    """The 6 ways of placing the 3 diameters on the 3 sites: their permutations and exact energies."""
    x, diam, box = _three_body()
    perms = list(itertools.permutations(range(3)))
    energies = np.array([brute_energy(x, diam[list(p)], box) for p in perms])
    return x, diam, box, perms, energies


def _boltzmann(energies, T):
    w = np.exp(-(energies - energies.min()) / T)
    return w / w.sum()


def _swap_chain(T, n, seed, attempts=3):
    """The state index (into _three_body_states' perms) after every block of `attempts` swap moves at T."""
    x, diam, box, perms, _ = _three_body_states()
    start, nbr = full_neighbours(x, box, model.max_cutoff(diam))
    d = diam.copy()
    swap_block(x, box, d, 1, T, seed, start, nbr)
    sites = np.empty((n, 2))
    for t in range(n):
        swap_block(x, box, d, attempts, T, -1, start, nbr)
        sites[t] = d[0], d[1]  # diameters on sites 0 and 1 fix the state
    assert sorted(d) == sorted(diam)
    index = {(diam[p[0]], diam[p[1]]): k for k, p in enumerate(perms)}
    return np.array([index[(a, b)] for a, b in sites])


def _swap_statistics(states, energies, T, batches=50):
    """Chain estimates against the exact Boltzmann law at T, with errors from batch means (the chain is
    correlated; 50 batches of 4,000 samples are far longer than its correlation time of ~2 samples).

    Returns (z of each state's frequency, temperature estimate, its standard error).  The temperature is
    estimated from the mean energy, the sufficient statistic of a Boltzmann law: <E>(T) is solved for T,
    with SE(T) = SE(E) / (d<E>/dT) and d<E>/dT = Var(E) / T^2."""
    from scipy.optimize import brentq

    n = len(states) // batches * batches
    per_batch = states[:n].reshape(batches, -1)
    freq_b = np.stack([np.bincount(b, minlength=len(energies)) / b.size for b in per_batch])
    freq, freq_se = freq_b.mean(0), freq_b.std(0, ddof=1) / np.sqrt(batches)
    z = (freq - _boltzmann(energies, T)) / freq_se
    e_b = freq_b @ energies
    e_mean, e_se = e_b.mean(), e_b.std(ddof=1) / np.sqrt(batches)

    def mean_energy(t):
        return _boltzmann(energies, t) @ energies

    t_hat = brentq(lambda t: mean_energy(t) - e_mean, 0.2 * T, 5 * T)
    p = _boltzmann(energies, t_hat)
    var_e = p @ energies**2 - (p @ energies) ** 2
    return z, t_hat, e_se / (var_e / t_hat**2)


def test_swap_mc_samples_boltzmann():
    """The occupancies of the 6 states of a 3-particle system follow exp(-E/T) at the sampler's T.

    Margins: every state's frequency within 4.5 batch-means standard errors of the exact probability, and
    the temperature read from the mean energy within 4 standard errors of T (Student t with 49 degrees of
    freedom: a correct sampler fails either with probability < 1e-3 for any seed).  The standard error of
    that temperature is 0.4-0.5% of T here, so a sampler at 0.9 T or 1.1 T lies ~20 standard errors away
    (even 0.95 T and 1.05 T lie 10-15 away).  Measured with seed 123: T = 1.0027 +- 0.0043 (largest state
    z 1.9); the two wrong samplers, run below to show that they fail, give 0.897 (z -20) and 1.104 (z +20)."""
    _, _, _, _, energies = _three_body_states()
    T = 1.0
    exact = _boltzmann(energies, T)
    assert exact.max() < 0.9 and exact.min() > 0.01  # every state visited: the test discriminates
    n = 200_000
    z, t_hat, t_se = _swap_statistics(_swap_chain(T, n, seed=123), energies, T)
    assert np.abs(z).max() < 4.5, z
    assert t_se < 0.01 * T  # sharp enough to put 0.9 T and 1.1 T >= 10 standard errors away
    assert abs(t_hat - T) < 4 * t_se, (t_hat, t_se)
    # the same test rejects a sampler at a temperature 10% off
    for wrong in (0.9 * T, 1.1 * T):
        z, t_hat, t_se = _swap_statistics(_swap_chain(wrong, n, seed=123), energies, T)
        assert abs(t_hat - T) > 4 * t_se and np.abs(z).max() > 4.5, (wrong, t_hat, t_se, z)


def test_swap_acceptance_matches_metropolis():
    """Particles 0 and 2 exchange diameters beside a third: accepted fraction = min(1, exp(-dU/T))."""
    from tlspipe.engine.swap import acceptance_rate, swap_delta

    x, diam, box = _three_body()
    T = 2.0
    start, nbr = full_neighbours(x, box, model.max_cutoff(diam))
    du = swap_delta(x, box, diam, start, nbr, 0, 2)
    d_swapped = diam[[2, 1, 0]]
    assert du == pytest.approx(brute_energy(x, d_swapped, box) - brute_energy(x, diam, box), rel=1e-12)
    lo, hi, dup = (diam, d_swapped, du) if du > 0 else (d_swapped, diam, -du)
    p_exact = np.exp(-dup / T)
    assert 0.02 < p_exact < 0.98
    trials = 200_000
    p = acceptance_rate(x, box, lo.copy(), start, nbr, 0, 2, T, trials, 5)
    assert p == pytest.approx(p_exact, abs=5 * np.sqrt(p_exact * (1 - p_exact) / trials))
    assert acceptance_rate(x, box, hi.copy(), start, nbr, 0, 2, T, 1000, 5) == 1.0


def test_swap_mc_preserves_multiset(small_glass):
    x, diam, box = small_glass
    d, acc, du = engine.swap_mc(x, diam, box, 5 * len(x), T=0.1, seed=4)
    assert acc > 0
    assert np.array_equal(np.sort(d), np.sort(diam))
    ff0 = engine.ForceField(diam, box)
    ff1 = engine.ForceField(d, box)
    assert ff1.energy(x) - ff0.energy(x) == pytest.approx(du, abs=1e-9)


def test_bad_input_is_refused():
    diam = model.diameters(200)
    box = model.box_length(200)
    x = np.zeros((200, 3))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        engine.ForceField(diam, box).energy(x)
    with pytest.raises(ValueError, match="twice the interaction range"):
        engine.ForceField(model.diameters(20), model.box_length(20))


@pytest.mark.parametrize("n, reach", [(500, 1), (500, 2), (1500, 1), (1500, 2), (120, 1)])
def test_neighbour_list_is_the_brute_force_set(n, reach):
    """Every pair closer than 1.25 sigma_ij + skin, no other, with shifts giving the minimum image."""
    from tlspipe.engine.potential import build_pairs

    rng = np.random.default_rng(n + reach)
    box = np.array([model.box_length(n)] * 3)
    diam = rng.permutation(model.diameters(n))
    x = engine.lattice_start(n, box, rng, 0.45) + box * rng.integers(-3, 4, (n, 3))  # unwrapped images
    skin = 0.3
    pi, pj, ps, sh, m = build_pairs(x, diam, box, skin, 64, 0.0, reach)
    got = {(int(a), int(b)) for a, b in zip(pi[:m], pj[:m])}
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.rint(d / box)
    r = np.sqrt((d**2).sum(-1))
    s = model.sigma_ij(diam[:, None], diam[None, :])
    ii, jj = np.nonzero(np.triu(r < model.RC_FACTOR * s + skin, 1))
    assert got == set(zip(ii.tolist(), jj.tolist()))
    sep = x[pi[:m]] - x[pj[:m]] - sh[:m]
    assert np.allclose(sep, d[pi[:m], pj[:m]], atol=1e-9)
    assert np.allclose(ps[:m], 1.0 / s[pi[:m], pj[:m]] ** 2)
