"""Native exploration and glass preparation of a native-lj model (Kob-Andersen): the compiled MD and FIRE
(tlspipe.engine.lj_md) against the numpy FIRE on the backend's forces, energy conservation, and every stored IS
a minimum of the model at its stored energy, as LAMMPS lj/cut computes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_models import KA_TEXT, ka_system
from tlspipe.cli import main
from tlspipe.engine.backend import fire, make_backend
from tlspipe.engine.lj_md import LJDynamics, kinetic_temperature, maxwell_velocities_masses
from tlspipe.store.isstore import read_store


def _dyn(system):
    be = make_backend(system)
    return be, LJDynamics(be.params, system.types - 1, system.masses, system.box)


def test_compiled_fire_is_the_numpy_fire_on_the_lj_forces():
    system, x = ka_system(n=250)
    be, dyn = _dyn(system)
    y1, r1 = dyn.fire(x, ftol=1e-8)
    y2, r2 = fire(be.energy_forces, x, ftol=1e-8)
    assert r1.converged and r2.converged
    assert r1.n_steps == r2.n_steps  # the same algorithm step for step (rounding apart)
    assert abs(r1.energy - r2.energy) < 1e-9 and np.abs(y1 - y2).max() < 1e-6
    e, f = be.energy_forces(y1)
    assert e == pytest.approx(r1.energy, abs=1e-10) and np.sqrt((f * f).sum(1)).max() < 1e-8
    # the early stop at a known minimum ends where the full descent ends
    from tlspipe.sample.defaults import EXPLORE_DEFAULTS as D

    # on an IS of an explored Kob-Andersen glass (the relaxed lattice start above is marginal)
    from tlspipe.models import load_model, system_from_data
    from tlspipe.store.lammps import read_lammps_data

    ka = Path(__file__).parent / "data" / "ka250"
    g = read_lammps_data(ka / "a.data")
    gs = system_from_data(g, load_model(ka / "ka.yaml"))
    _, dyn = _dyn(gs)
    m, rm = dyn.fire(g.unwrapped(), ftol=1e-10)
    from tlspipe.sample.explore import min_image_max_disp
    from tlspipe.sample.model_explore import LJ_EXIT_ENERGY

    exits = dict(exit_energy=LJ_EXIT_ENERGY, exit_distance=D["exit_distance"], exit_harmonic=D["exit_harmonic"])
    hits = 0
    for seed in range(6):
        xp = m + np.random.default_rng(10 + seed).normal(0, 0.01, m.shape)
        ys, rs = dyn.fire(xp, ftol=1e-6, known=(m[None], np.array([rm.energy]), 1), **exits)
        yf, rf = dyn.fire(xp, ftol=1e-10)
        same = abs(rf.energy - rm.energy) / 250 <= D["energy_tol"] and min_image_max_disp(yf, m, gs.box) <= 1e-3
        if rs.known == 0:  # a stop is made only where the full descent ends in the known IS
            hits += 1
            assert same and rs.n_steps < rf.n_steps
    assert hits >= 1

def test_md_with_masses_conserves_energy_and_langevin_holds_T():
    system, x = ka_system(n=250)
    system.masses = np.where(system.types == 1, 1.0, 2.5)  # unequal masses: a = F / m
    be, dyn = _dyn(system)
    x, _ = dyn.fire(x, ftol=1e-4)
    v = maxwell_velocities_masses(system.masses, 0.3, np.random.default_rng(1))
    assert kinetic_temperature(v, system.masses) == pytest.approx(0.3)
    assert np.abs((system.masses[:, None] * v).sum(0)).max() < 1e-12
    h0 = be.energy_forces(x)[0] + 0.5 * (system.masses[:, None] * v * v).sum()
    y, w = x.copy(), v.copy()
    e = dyn.md(y, w, 0.002, 2000)
    h1 = e + 0.5 * (system.masses[:, None] * w * w).sum()
    assert abs(h1 - h0) / 250 < 2e-4 and dyn.n_builds > 1
    assert e == pytest.approx(be.energy_forces(y)[0], abs=1e-9)
    # Langevin at T = 0.5 (ramp 0.5 -> 0.5): the kinetic temperature of the last stretch near 0.5
    temps = []
    for k in range(20):
        dyn.md(y, w, 0.004, 100, thermostat="langevin", T=0.5, gamma=2.0, seed=k)
        temps.append(kinetic_temperature(w, system.masses))
    assert np.mean(temps[5:]) == pytest.approx(0.5, rel=0.1)


def test_native_explore_stores_lj_minima_agreeing_with_lammps(tmp_path, capsys):
    """tlspipe explore --model ka.yaml runs natively (engine native): every stored IS is a minimum of the
    native LJ forces at its stored energy, and LAMMPS lj/cut gives the same energies; a resumed run reuses the
    checkpoints and gives the same store."""
    from tlspipe.store.lammps import write_lammps_data

    model = tmp_path / "ka.yaml"
    model.write_text(KA_TEXT)
    system, x = ka_system(n=250)
    glass = tmp_path / "g.data"
    write_lammps_data(glass, x, np.ones(250), system.box, types=system.types, type_masses={1: 1.0, 2: 1.0},
                      atom_style="atomic")
    args = ["explore", glass, "--out", tmp_path / "is.h5", "--model", model, "--n-traj", "2", "--traj-time", "3",
            "--tau-quench", "0.3", "--T", "0.4", "--dt", "0.005", "--seed", "2"]
    assert main([str(a) for a in args]) == 0
    capsys.readouterr()
    st = read_store(tmp_path / "is.h5")
    assert st.attrs["model_name"] == "kob-andersen" and st.attrs["engine"] == "native"
    assert st.n_is >= 3 and st.trans_count.sum() >= 1
    assert np.array_equal(st.types, system.types)
    be = make_backend(system)
    for k in range(st.n_is):
        e, f = be.energy_forces(st.positions[k])
        assert e / 250 == pytest.approx(st.energy[k], abs=1e-10)
        assert np.sqrt((f * f).sum(1)).max() < 1e-8
    pytest.importorskip("lammps")
    with make_backend(system, engine="lammps") as lmp:
        for k in range(st.n_is):
            assert lmp.energy_forces(st.positions[k])[0] / 250 == pytest.approx(st.energy[k], abs=1e-10)
    before = st.energy.copy()
    assert main([str(a) for a in args]) == 0  # from the checkpoints
    assert np.array_equal(read_store(tmp_path / "is.h5").energy, before)


def test_cooling_protocol_makes_a_glass_of_the_model(tmp_path):
    """prepare.protocol cooling: composition and masses as asked, the box at the density, a glass whose IS is
    lower than the liquid's and which the model's own reader takes back; bad keys named."""
    from tlspipe.models import load_model, system_from_data
    from tlspipe.sample.cooling import check_cooling, cool_glass, write_cooled_glass
    from tlspipe.store.lammps import read_lammps_data

    m = load_model(Path(__file__).parents[1] / "config" / "models" / "kob-andersen.yaml")
    p = dict(density=1.2, composition=[0.8, 0.2], equilibrate_time=2.0, cool_time=2.0, hold_time=1.0)
    g = cool_glass(m, 200, 1.0, 7, p, T_explore=0.3)
    assert np.bincount(g["types"]).tolist() == [0, 160, 40]
    assert g["box"][0] ** 3 * 1.2 == pytest.approx(200)
    st = {s["stage"]: s for s in g["meta"]["stages"]}
    assert st["equilibrate"]["energy_per_particle"] > st["hold"]["energy_per_particle"]
    assert g["meta"]["inherent_energy_per_particle"] < st["hold"]["energy_per_particle"] < -6.0
    assert g["meta"]["params"]["T_final"] == 0.3
    data, _ = write_cooled_glass(g, m, tmp_path / "g.data")
    d = read_lammps_data(data, expected_density=1.2)
    s = system_from_data(d, m)
    assert d.atom_style == "atomic" and np.array_equal(s.types, g["types"])
    be = make_backend(s)
    assert be.name == "native-lj"
    _, r = be.minimise(d.unwrapped(), ftol=1e-10)
    assert r.energy / 200 == pytest.approx(g["meta"]["inherent_energy_per_particle"], abs=1e-8)
    assert cool_glass(m, 200, 1.0, 7, p, T_explore=0.3)["positions"].tolist() == g["positions"].tolist()
    for bad, key in (({"composition": [0.8, 0.3]}, "composition"), ({"density": None}, "density"),
                     ({"start": "fcc"}, "start"), ({"cool_rate": 1}, "unknown")):
        with pytest.raises(ValueError, match=key):
            check_cooling({**p, **bad})


def test_cooling_defaults_equal_the_schema():
    from tlspipe.sample.defaults import COOLING_DEFAULTS
    from tlspipe.workflow import fill_defaults, load_schema, rule_config

    d = fill_defaults(load_schema(), {})
    assert d["prepare"]["cooling"] == COOLING_DEFAULTS and d["prepare"]["protocol"] == "swap"
    # a swap study's prepare jobs get exactly the keys they got before the protocol existed
    assert "protocol" not in rule_config(d, "prepare") and "cooling" not in rule_config(d, "prepare")


def test_pair_species_names_the_most_displaced_particles():
    """species_k: the types of the particles that move most (a translation of the whole glass removed); only
    for stores of more than one type."""
    from tlspipe.pairs.species import pair_species

    rng = np.random.default_rng(0)
    n, L = 50, 5.0
    a = rng.uniform(-L / 2, L / 2, (n, 3))
    b = a + 0.3  # a global translation: no particle is "displaced" by it
    b[7] += [0.5, 0.0, 0.0]
    b[3] += [0.0, -0.4, 0.0]
    b[11] += [0.0, 0.0, 2.4]  # across the boundary: minimum image 2.4 - 5 = -2.6, the largest
    types = np.ones(n, np.int64)
    types[[3, 11]] = 2
    sp = pair_species(np.stack([a, b]), L, types, [0], [1])
    assert sp.tolist() == [[2, 1, 2]]  # 11 (|-2.6|), 7 (0.5), 3 (0.4)
