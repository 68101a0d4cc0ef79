"""A study's glasses from the user's own LAMMPS data files (prepare.protocol files), and a study of a model no
native engine runs: the tiny EAM copper study (config/eam-test.yaml, N = 108, glasses from files, everything
through LAMMPS in metal units) end to end; the files protocol with Kob-Andersen glasses written by LAMMPS's
write_data, and its refusals; the Maxwell velocities of metal and real units against LAMMPS's own temperature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_models import KA_TEXT, ka_system
from tlspipe.engine.backend import make_backend
from tlspipe.models import ModelError
from tlspipe.workflow import ConfigError, glass_table, rule_config, study_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
EAM_TEST = REPO / "config" / "eam-test.yaml"


def _study(cfg: dict, tmp_path):
    import yaml

    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return study_config(yaml.safe_load(p.read_text()), [str(p)], schema_path=SCHEMA)


# ----------------------------------------------------------------------------- Kob-Andersen glass files
@pytest.fixture(scope="module")
def ka_glasses(tmp_path_factory):
    """Kob-Andersen glasses (N = 200, density 1.2) written by LAMMPS write_data: two relaxed only to max|F| <
    1e-2 (the prepare job quenches them), one an inherent structure to 1e-10 (taken as is)."""
    pytest.importorskip("lammps")
    d = tmp_path_factory.mktemp("ka_files")
    (d / "ka.yaml").write_text(KA_TEXT)
    files = []
    for k in range(3):
        system, x = ka_system(n=200, seed=10 + k)
        if k == 2:
            x, r = make_backend(system).minimise(x, ftol=1e-11)
            assert r.converged
        with make_backend(system, engine="lammps") as lmp:
            lmp.energy_forces(x)
            f = d / ("is" if k == 2 else "glasses") / f"ka_{k}.data"
            f.parent.mkdir(exist_ok=True)
            lmp.engine._lmp.command(f"write_data {f}")
        files.append(f)
    return {"dir": d, "model": d / "ka.yaml", "files": files}


def _ka_cfg(ka, **prepare):
    return {"study": "ka-files", "model": str(ka["model"]), "units": "argon", "n_particles": 200,
            "glasses": [{"tf": 1.0, "count": 2}],
            "prepare": {"protocol": "files", "files": str(ka["dir"] / "glasses" / "*.data"), **prepare},
            "explore": {"tau_quench": 0.3, "T": 0.3, "dt": 0.005}}


def _prepare_all(cfg, out_dir):
    from tlspipe.sample.cli import run_prepare

    metas = []
    for g in glass_table(cfg):
        p = rule_config(cfg, "prepare", glass=g)
        metas.append(run_prepare(cfg["n_particles"], {k: g[k] for k in ("glass", "tf", "seed")}, p,
                                 out_dir / g["glass"] / "equilibrated.data", out_dir / g["glass"] / "equilibrated.json"))
    return metas


def test_files_protocol_imports_and_quenches_lammps_glasses(ka_glasses, tmp_path):
    from tlspipe.models import load_model, system_from_data
    from tlspipe.store.lammps import read_lammps_data

    cfg = _study(_ka_cfg(ka_glasses), tmp_path)
    assert cfg["prepare"]["files"] == [str(f.resolve()) for f in ka_glasses["files"][:2]]  # the glob, sorted
    rows = glass_table(cfg)
    assert [rule_config(cfg, "prepare", glass=g)["file"] for g in rows] == cfg["prepare"]["files"]
    for g in rows:  # the explore job: the model, no density check
        ex = rule_config(cfg, "explore", glass=g)
        assert ex["glass_model"] == cfg["model"] and ex["density"] is None
    out = tmp_path / "glasses"
    metas = _prepare_all(cfg, out)
    m = load_model(ka_glasses["model"])
    for g, meta, src in zip(rows, metas, ka_glasses["files"]):
        assert meta["protocol"] == "files" and meta["quenched"] and meta["backend"] == "native-lj"
        assert meta["source"] == str(src.resolve()) and meta["type_counts"] == [160, 40]
        assert json.loads((out / g["glass"] / "equilibrated.json").read_text())["glass"] == g["glass"]
        data = read_lammps_data(out / g["glass"] / "equilibrated.data", expected_density=1.2)
        first = read_lammps_data(src)
        assert data.atom_style == "atomic" and np.array_equal(data.types, first.types)  # atom by atom
        system = system_from_data(data, m)
        # an inherent structure of the model, checked by LAMMPS (the independent engine): E/N as recorded
        with make_backend(system, engine="lammps") as lmp:
            e, f = lmp.energy_forces(data.positions)
        assert e / 200 == pytest.approx(meta["inherent_energy_per_particle"], abs=1e-10)
        assert np.sqrt((f * f).sum(1)).max() < 1e-8
        assert meta["inherent_energy_per_particle"] < meta["initial_energy_per_particle"]
    # a file that is already an IS is taken as is: the same positions, bit for bit
    cfg2 = _study({**_ka_cfg(ka_glasses), "glasses": [{"tf": 1.0, "count": 1}],
                   "prepare": {"protocol": "files", "files": [str(ka_glasses["files"][2])]}}, tmp_path)
    (meta,) = _prepare_all(cfg2, tmp_path / "is")
    assert not meta["quenched"] and meta["quench_steps"] == 0 and meta["initial_max_force"] < 1e-10
    a = read_lammps_data(ka_glasses["files"][2])
    b = read_lammps_data(tmp_path / "is" / glass_table(cfg2)[0]["glass"] / "equilibrated.data")
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.lo, b.lo) and np.array_equal(a.box, b.box)


def test_files_protocol_refusals(ka_glasses, tmp_path):
    ka = ka_glasses
    # the glass count must be the number of files
    with pytest.raises(ConfigError, match=r"count 3 but prepare.files gives 2 file\(s\).*set count: 2"):
        _study({**_ka_cfg(ka), "glasses": [{"tf": 1.0, "count": 3}]}, tmp_path)
    with pytest.raises(ConfigError, match=r"nothing-\*\.data' matches no file;"):
        _study(_ka_cfg(ka, files=str(ka["dir"] / "nothing-*.data")), tmp_path)
    with pytest.raises(ConfigError, match="no prepare.files are given"):
        _study({**_ka_cfg(ka), "prepare": {"protocol": "files"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"lists .*ka_0.data twice"):
        _study(_ka_cfg(ka, files=[str(ka["files"][0])] * 2), tmp_path)
    with pytest.raises(ModelError, match="files is read by prepare.protocol: files only"):
        _study({**_ka_cfg(ka), "prepare": {"protocol": "cooling", "files": str(ka["files"][0]),
                                           "cooling": {"density": 1.2, "composition": [0.8, 0.2]}}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown|not valid"):  # unknown keys, as elsewhere
        _study(_ka_cfg(ka, file=str(ka["files"][0])), tmp_path)

    # the prepare job: every bad file is refused naming it
    src = ka["files"][0].read_text()

    def job(text, name, n_particles=200):
        f = tmp_path / name
        f.write_text(text)
        cfg = _study({**_ka_cfg(ka, files=[str(f)]), "glasses": [{"tf": 1.0, "count": 1}],
                      "n_particles": n_particles}, tmp_path)
        return f, lambda: _prepare_all(cfg, tmp_path / f"out_{name}")

    f, run = job(src.replace("\n2 1\n", "\n2 2.0\n", 1), "mass.data")  # Masses: type 2 has mass 2
    with pytest.raises(ValueError, match=rf"{f}: its Masses section gives type 2 mass 2.0"):
        run()
    lines = src.splitlines()
    k = lines.index("2 atom types") if "2 atom types" in lines else None
    assert k is not None
    three = "\n".join(lines[:k] + ["3 atom types"] + lines[k + 1:])
    three = three.replace("\nMasses\n\n1 1\n2 1\n", "\nMasses\n\n1 1\n2 1\n3 1\n")
    i = three.index("Atoms # atomic")
    body = three[i:].split("\n")
    body[2] = " ".join([body[2].split()[0], "3"] + body[2].split()[2:])  # one atom of a type the model lacks
    three = three[:i] + "\n".join(body)
    three = three.replace("Pair Coeffs # lj/cut\n\n1 1 1\n2 0.5 0.88\n", "")
    f, run = job(three, "types.data")
    with pytest.raises(ValueError, match=rf"{f}: .*no mass for atom type\(s\) \[3\]"):
        run()
    body = src[src.index("Atoms # atomic"):].split("\n")
    toks = body[3].split()
    toks[2] = "nan"
    f, run = job(src[:src.index("Atoms # atomic")] + "\n".join(body[:3] + [" ".join(toks)] + body[4:]), "nan.data")
    with pytest.raises(ValueError, match=rf"{f}, line \d+: non-finite value"):
        run()
    f, run = job(src, "n.data", n_particles=250)
    with pytest.raises(ValueError, match=rf"{f}: holds 200 atoms but the study's n_particles is 250; set n_particles: 200"):
        run()


def test_study_refuses_a_lammps_model_without_engine_lammps_and_units_it_fixes(tmp_path):
    import yaml

    cfg = yaml.safe_load(EAM_TEST.read_text())
    cfg["model"] = str(REPO / cfg["model"])
    cfg["prepare"]["files"] = str(REPO / cfg["prepare"]["files"])
    full = _study(cfg, tmp_path)
    assert full["units"]["name"] == "metal" and full["tls_threshold"] == pytest.approx(1.0 / 11604.518, rel=1e-6)
    with pytest.raises(ModelError, match="no native engine runs.*set engine: lammps"):
        _study({**cfg, "engine": "native"}, tmp_path)
    with pytest.raises(ConfigError, match="LAMMPS metal units, which fix hbar.*remove the key 'units'"):
        _study({**cfg, "units": "argon"}, tmp_path)
    with pytest.raises(ModelError, match="cooling runs the native Lennard-Jones family.*give them as files"):
        _study({**cfg, "glasses": [{"tf": 300.0, "count": 1}],
                "prepare": {"protocol": "cooling", "cooling": {"density": 0.08, "composition": [1.0]}}}, tmp_path)


@pytest.mark.parametrize("units, text", [
    ("metal", None),
    ("real", "units: real\npair_style: lj/cut 8.5\npair_coeff: ['1 1 0.238 3.405']\nmass: ['1 39.948']\n"),
])
def test_maxwell_velocities_have_lammps_temperature(units, text, tmp_path):
    """The exploration's velocities in metal / real units: LAMMPS's own compute temp reads T (kelvin)."""
    pytest.importorskip("lammps")
    from tlspipe import engine
    from tlspipe.engine.lammps import LammpsEngine
    from tlspipe.models import load_model, parse_model, velocity_scale

    m = load_model(REPO / "config" / "models" / "cu-eam.yaml") if text is None else parse_model(text, "lj-real.yaml")
    n, L = 108, 11.1 if units == "metal" else 20.0
    x = (np.stack(np.meshgrid(*[np.arange(6)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] + 0.5) / 6 * L - L / 2
    masses = m.type_masses(1)[np.ones(n, np.int64)]
    v = engine.maxwell_velocities(n, 650.0, np.random.default_rng(1)) * velocity_scale(units) / np.sqrt(masses)[:, None]
    lmp = LammpsEngine(None, L, model=m, types=np.ones(n, np.int64), masses=masses)
    try:
        lmp._lmp.command("compute tlstemp all temp")
        lmp._lmp.command("thermo_style custom step pe c_tlstemp")
        lmp.run_nve(x, v, 1e-6, 0)
        assert lmp._lmp.extract_compute("tlstemp", 0, 0) == pytest.approx(650.0, rel=1e-6)
    finally:
        lmp.close()


# ----------------------------------------------------------------------------- the EAM study, end to end
@pytest.fixture(scope="module")
def eam_study(tmp_path_factory):
    pytest.importorskip("lammps")
    d = tmp_path_factory.mktemp("eam_study")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(d),
                        "--cores", "1", "--configfile", str(EAM_TEST)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return d / "results" / "eam-test"


def test_eam_study_glasses_stores_and_exact_results(eam_study):
    from tlspipe.engine.backend import System
    from tlspipe.models import load_model
    from tlspipe.store.isstore import read_store
    from tlspipe.store.lammps import read_lammps_data

    m = load_model(REPO / "config" / "models" / "cu-eam.yaml")
    glasses = sorted((eam_study / "glasses").iterdir())
    sources = sorted((REPO / "config" / "glasses" / "cu-eam-test").glob("glass_*.data"))
    assert len(glasses) == len(sources) == 2
    for g, src in zip(glasses, sources):
        meta = json.loads((g / "equilibrated.json").read_text())
        assert meta["protocol"] == "files" and meta["source"] == str(src.resolve()) and meta["backend"] == "lammps"
        data = read_lammps_data(g / "equilibrated.data")
        assert data.n_particles == 108 and data.type_masses == {1: 63.546}
        st = read_store(g / "is.h5")
        assert st.attrs["model_sha256"] == m.sha256 and st.attrs["engine"] == "lammps" and st.n_is >= 1
        assert np.allclose(st.masses, 63.546)
        system = System(m, st.types, st.masses, np.ones(108), st.box)
        with make_backend(system) as be:  # every stored IS is a minimum of the EAM model at its stored energy
            assert be.name == "lammps"
            for k in range(st.n_is):
                e, f = be.energy_forces(st.positions[k])
                assert e / 108 == pytest.approx(st.energy[k], abs=1e-10) and np.sqrt((f * f).sum(1)).max() < 1e-8
    exact = pd.concat([pd.read_parquet(f) for f in sorted((eam_study / "loop").glob("round_*/exact.parquet"))])
    assert len(exact) >= 3 and {"species_1", "path_length"} <= set(exact.columns)
    dw = exact[exact["status"] == "dw"]
    assert len(dw) >= 1
    assert np.allclose(dw["e_qs_kelvin"], dw["e_qs"] * 11604.518, rtol=1e-6)  # eV -> K, metal units
    assert (dw["barrier"] > 0).all() and (dw["path_length"] > 0).all()
    tls = pd.read_parquet(eam_study / "tls.parquet")
    assert (tls["is_tls"] == ((tls["status"] == "dw") & (tls["e_qs"] < 1.0 / 11604.518))).all()
    assert (eam_study / "tables" / "table1.csv").exists() and (eam_study / "figures" / "fig4.png").exists()


# ----------------------------------------------------------------------------- tlspipe prepare --protocol cooling
def test_prepare_command_runs_the_cooling_protocol(tmp_path, capsys):
    """`tlspipe prepare --protocol cooling --model FILE` makes the glass the study's cooling job makes (the same
    function and keys): bit for bit the glass of cool_glass with those keys and seed; its IS energy is LAMMPS's
    at the minimised positions; the flags of the other protocol are refused."""
    from tlspipe.cli import main
    from tlspipe.models import load_model, system_from_data
    from tlspipe.sample.cooling import cool_glass
    from tlspipe.store.lammps import read_lammps_data

    model = tmp_path / "ka.yaml"
    model.write_text(KA_TEXT)
    out = tmp_path / "g.data"
    keys = {"density": 1.2, "composition": [0.8, 0.2], "equilibrate_time": 0.5, "cool_time": 0.5,
            "hold_time": 0.2, "T_final": 0.3}
    args = ["prepare", "--protocol", "cooling", "--model", model, "--n", "200", "--tf", "1.0", "--seed", "3",
            "--density", "1.2", "--composition", "0.8,0.2", "--equilibrate-time", "0.5", "--cool-time", "0.5",
            "--hold-time", "0.2", "--T-final", "0.3", "--out", out]
    rc = main([str(a) for a in args])
    printed, err = capsys.readouterr()
    assert rc == 0, err
    info = json.loads(printed)
    assert info["protocol"] == "cooling" and [s["stage"] for s in info["stages"]] == ["equilibrate", "cool", "hold"]
    m = load_model(model)
    data = read_lammps_data(out, expected_density=1.2)
    assert data.atom_style == "atomic" and np.bincount(data.types).tolist() == [0, 160, 40]
    ref = cool_glass(m, 200, 1.0, 3, keys)
    assert np.array_equal(data.positions, ref["positions"]) and np.array_equal(data.velocities, ref["velocities"])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["params"]["T_final"] == 0.3 and meta["protocol"] == "cooling"
    system = system_from_data(data, m)
    xm, r = make_backend(system).minimise(data.positions, ftol=1e-10)
    with make_backend(system, engine="lammps") as lmp:
        assert lmp.energy_forces(xm)[0] / 200 == pytest.approx(meta["inherent_energy_per_particle"], abs=1e-9)

    def refused(*extra):
        rc = main([str(a) for a in extra] + ["--tf", "1.0", "--out", str(tmp_path / "x.data")])
        return rc, capsys.readouterr()[1]

    rc, err = refused("prepare", "--protocol", "cooling", "--density", "1.2", "--composition", "1", "--T-final", "0.3")
    assert rc == 1 and "give --model FILE" in err
    rc, err = refused("prepare", "--protocol", "cooling", "--model", model, "--density", "1.2", "--composition",
                      "0.8,0.2")
    assert rc == 1 and "give --T-final" in err
    rc, err = refused("prepare", "--protocol", "cooling", "--model", model, "--n-blocks", "3", "--T-final", "0.3")
    assert rc == 1 and "--n-blocks is a key of the swap protocol" in err
    rc, err = refused("prepare", "--density", "1.2")
    assert rc == 1 and "--density: a flag of --protocol cooling" in err
    rc, err = refused("prepare", "--protocol", "cooling", "--model", model, "--composition", "0.8,0.2",
                      "--T-final", "0.3")
    assert rc == 1 and "density: give the number density" in err


def test_files_protocol_soft_spheres(tmp_path):
    """The soft spheres' own glasses as files (atom_style charge, density 1): quenched natively, the IS checked
    by LAMMPS's lepton expression; an atomic file or another density is refused, naming the file."""
    pytest.importorskip("lammps")
    from tlspipe import engine
    from tlspipe import model as ss
    from tlspipe.engine.backend import soft_sphere_system
    from tlspipe.store.lammps import read_lammps_data, write_lammps_data

    n = 128
    rng = np.random.default_rng(4)
    diam = rng.permutation(ss.diameters(n))
    L = ss.box_length(n)
    x = engine.lattice_start(n, engine.as_box(L), rng, 0.1)
    f = tmp_path / "ss.data"
    write_lammps_data(f, x, diam, L)
    cfg = _study({"study": "ss-files", "n_particles": n, "glasses": [{"tf": 0.07, "count": 1}],
                  "prepare": {"protocol": "files", "files": [str(f)]}}, tmp_path)
    assert cfg.get("model") is None
    (meta,) = _prepare_all(cfg, tmp_path / "out")
    assert meta["quenched"] and meta["backend"] == "native-soft-sphere" and meta["atom_style"] == "charge"
    data = read_lammps_data(tmp_path / "out" / glass_table(cfg)[0]["glass"] / "equilibrated.data",
                            expected_density=ss.DENSITY)
    assert np.array_equal(data.diameters, diam)
    with make_backend(soft_sphere_system(diam, L), engine="lammps") as lmp:
        e, fo = lmp.energy_forces(data.positions)
    assert e / n == pytest.approx(meta["inherent_energy_per_particle"], abs=1e-10)
    assert np.sqrt((fo * fo).sum(1)).max() < 1e-8
    # refused: an atomic file (no diameters), another density
    for name, text in (("atomic.data", None), ("dense.data", None)):
        g = tmp_path / name
        if name == "atomic.data":
            write_lammps_data(g, x, np.ones(n), L, atom_style="atomic")
            want = "atom_style atomic holds no particle diameters"
        else:
            write_lammps_data(g, x * 0.9, diam, 0.9 * L)
            want = "density 1.37.*soft spheres of the study are at density 1"
        c = _study({**cfg, "prepare": {"protocol": "files", "files": [str(g)]}}, tmp_path)
        with pytest.raises(ValueError, match=rf"{g}.*{want}"):
            _prepare_all(c, tmp_path / name)
