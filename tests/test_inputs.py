"""Inputs that used to finish with exit 0 and a wrong answer, or with a raw error: each is now refused with a
message naming the file or key and the fix (README, "Reliability")."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tlspipe.cli import main
from tlspipe.store.isstore import ISStore, StoreError, read_store, write_store


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _small_store(path, n_is=4, n=30, box=4.0, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(-box / 2, box / 2, (n, 3))
    pos = base + rng.normal(0, 0.05, (n_is, n, 3))
    pos -= box * np.floor(pos / box + 0.5)
    st = ISStore(diameters=np.ones(n), box=np.full(3, box), positions=pos,
                 energy=np.linspace(0.1, 0.1 + 0.5 / n, n_is))
    return write_store(path, st)


# ----------------------------------------------------------------------------- 1. every reader checks the hash
@pytest.mark.parametrize("dataset, edit", [("positions", lambda d: d.__setitem__((1, 5, 0), d[1, 5, 0] + 0.5)),
                                           ("box", lambda d: d.__setitem__(0, d[0] * 1.01)),
                                           ("energy", lambda d: d.__setitem__(2, d[2] + 1e-3))])
def test_features_refuse_a_store_edited_with_h5py(tmp_path, capsys, dataset, edit):
    p = _small_store(tmp_path / "g" / "is.h5")
    with h5py.File(p, "r+") as h:  # a valid HDF5 edit: the chunk checksums are rewritten
        edit(h[dataset])
    rc, out, err = _run(capsys, "features", p, "--out", tmp_path / "pairs.parquet")
    assert rc == 1 and str(p) in err and "does not match the sha256" in err and "restore it" in err
    assert not (tmp_path / "pairs.parquet").exists()
    with pytest.raises(StoreError, match="does not match the sha256"):
        read_store(p)  # every reader: the library's too
    with pytest.raises(StoreError, match="does not match the sha256"):
        read_store(p, positions=False)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, _, err = _run(capsys, "neb", p, "--pairs", pairs, "--out", tmp_path / "e.parquet")
    assert rc == 1 and str(p) in err and "does not match the sha256" in err


def test_an_unchanged_store_is_hashed_once_per_process(tmp_path, monkeypatch):
    from tlspipe.store import isstore

    p = _small_store(tmp_path / "g" / "is.h5")
    calls = []
    real = isstore._hash_arrays
    monkeypatch.setattr(isstore, "_hash_arrays", lambda *a, **k: calls.append(1) or real(*a, **k))
    isstore.content_hash(p)
    n_first = len(calls)
    read_store(p, positions=False)
    isstore.content_hash(p)
    assert n_first > 0 and len(calls) == n_first


# ----------------------------------------------------------------------------- 2. IS identity up to a translation
from conftest import FIXTURE_DIR  # noqa: E402

FIXTURE_NAMES = ["2.044810139E-01.conf.txt", "2.046749726E-01.conf.txt"]


@pytest.fixture(scope="module")
def authors_pair():
    """The authors' two IS (a real local rearrangement: d 1.12 sigma, dr_1 0.73 sigma)."""
    from tlspipe.store.lammps import read_lammps_data

    if not FIXTURE_DIR.is_dir():
        pytest.skip("fixture ciarella2023_T0.062 not available")
    return [read_lammps_data(FIXTURE_DIR / n) for n in FIXTURE_NAMES]


def _translated(x, box, t):
    y = x + np.asarray(t)
    return y - box * np.floor(y / box + 0.5)


def test_a_translated_minimum_is_one_is_and_a_local_hop_two(authors_pair):
    from tlspipe.sample.explore import ISRegistry, merge_trajectories

    a, b = authors_pair
    box = a.box
    ea, eb = 0.2044810139, 0.2046749726
    reg = ISRegistry(box, energy_tol=1e-9, position_tol=1e-3)
    ka = reg.add(ea, a.wrapped(), 0.0, 0)
    assert reg.add(ea, _translated(a.wrapped(), box, [0.3, 0, 0]), 1.0, 0) == ka  # 0.3 sigma along x
    assert reg.add(ea, _translated(a.wrapped(), box, [0.3, -0.2, 0.45 * box[2]]), 2.0, 0) == ka
    kb = reg.add(ea, b.wrapped(), 3.0, 0)  # the real hop (given the same energy: positions decide)
    assert kb != ka and reg.visits[ka] == 3
    # across trajectories: the merge identifies them the same way
    r0 = {"energies": np.array([ea]), "positions": a.wrapped()[None], "first_seen": np.array([0.1]),
          "visits": np.array([1]), "sequence": np.array([0])}
    r1 = {"energies": np.array([ea, eb]), "positions": np.stack([_translated(a.wrapped(), box, [0.3, 0, 0]),
                                                                 b.wrapped()]),
          "first_seen": np.array([0.1, 0.2]), "visits": np.array([1, 1]), "sequence": np.array([0, 1])}
    st = merge_trajectories([r0, r1], a.diameters, box, 1e-9, 1e-3)
    assert st.n_is == 2 and list(st.visits) == [2, 1]


def test_import_merges_a_translated_copy_and_features_remove_a_translation(authors_pair, tmp_path, capsys):
    from tlspipe.pairs import featurise_store
    from tlspipe.store.lammps import write_lammps_data

    a, b = authors_pair
    d = tmp_path / "g"
    d.mkdir()
    for n in FIXTURE_NAMES:
        (d / n).write_bytes((FIXTURE_DIR / n).read_bytes())
    write_lammps_data(d / "2.044810139E-01.shifted.conf.txt", _translated(a.wrapped(), a.box, [0.3, 0, 0]),
                      a.diameters, a.box)
    rc, out, _ = _run(capsys, "import-lammps", d, "--out", tmp_path / "st" / "is.h5")
    info = json.loads(out)
    assert rc == 0 and info["n_is"] == 2 and len(info["duplicates"]) == 1
    # a store that holds the copy anyway (made elsewhere): its pair with the original has d = 0, and its
    # pair with the other IS the features of the real hop
    st = read_store(tmp_path / "st" / "is.h5")
    three = ISStore(diameters=st.diameters, box=st.box, energy=[st.energy[0], st.energy[1], st.energy[0]],
                    positions=np.stack([st.positions[0], st.positions[1],
                                        _translated(st.positions[0], st.box, [0.3, 0, 0])]))
    p = write_store(tmp_path / "h" / "is.h5", three)
    featurise_store(p, tmp_path / "pairs.parquet")
    import pandas as pd

    df = pd.read_parquet(tmp_path / "pairs.parquet").set_index(["is_a", "is_b"]).sort_index()
    assert df.loc[(0, 2), "d"] < 1e-9 and df.loc[(0, 2), "pr"] == 0.0
    for c in ("d", "pr", "dr_1", "dist_1_2"):
        assert df.loc[(2, 1), c] == pytest.approx(df.loc[(0, 1), c], rel=1e-9), c
    assert df.loc[(0, 1), "d"] == pytest.approx(1.117697, rel=1e-6)  # the authors' total_displacement


# ----------------------------------------------------------------------------- 3. a model's manifest is checked
@pytest.fixture(scope="module")
def two_layer_model(tmp_path_factory):
    import pandas as pd

    from tlspipe.learn import TaskSpec, save, train_task

    rng = np.random.default_rng(0)
    n = 600
    X = rng.uniform(-2, 2, (n, 4))
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["glass"] = rng.integers(0, 8, n)
    df["y"] = np.sin(2 * X[:, 0]) + 0.7 * X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    cfg = {"n_threads": 1, "n_folds": 3, "time_budget": None, "early_stopping_rounds": 10, "n_layers": 2,
           "members": ["lightgbm", "extratrees"],
           "hyperparameters": {"lightgbm": {"n_estimators": 40}, "extratrees": {"n_estimators": 10}}}
    model = train_task(df, TaskSpec("y", "regress", "y"), cfg, features=["a", "b", "c", "d"])
    return df, save(model, tmp_path_factory.mktemp("model") / "m")


def _edit_manifest(src, dst, edit, resign):
    import shutil

    d = shutil.copytree(src, dst)
    m = json.loads((d / "manifest.json").read_text())
    edit(m)
    if resign:
        from tlspipe.learn.persist import manifest_sha256

        m["manifest_sha256"] = manifest_sha256(m)
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_a_model_whose_manifest_was_edited_is_refused(two_layer_model, tmp_path, capsys):
    from tlspipe.learn import load

    df, out = two_layer_model
    table = tmp_path / "t.parquet"
    df.to_parquet(table)
    assert _run(capsys, "learn", "predict", "--model", out, "--table", table, "--out", tmp_path / "p.parquet")[0] == 0
    names = set(load(out).stack.models_)
    assert any(k.startswith("L1_") for k in names) and any(k.startswith("L2_") for k in names), names
    # the issue's case: the features listed in another order (the model then predicted garbage)
    d = _edit_manifest(out, tmp_path / "order", lambda m: m["features"].reverse(), resign=False)
    rc, _, err = _run(capsys, "learn", "predict", "--model", d, "--table", table, "--out", tmp_path / "q.parquet")
    assert rc == 1 and str(d / "manifest.json") in err and "manifest_sha256" in err and "retrain" in err
    assert not (tmp_path / "q.parquet").exists()
    # an unknown stack.config key: a clear error naming the manifest, not a raw TypeError
    d = _edit_manifest(out, tmp_path / "key", lambda m: m["stack"]["config"].update(n_tree=3), resign=True)
    with pytest.raises(ValueError, match=r"key/manifest\.json: unknown stack\.config key\(s\) \['n_tree'\]"):
        load(d)
    d = _edit_manifest(out, tmp_path / "val", lambda m: m["stack"]["config"].update(n_layers=7), resign=True)
    with pytest.raises(ValueError, match=r"val/manifest\.json: stack\.config is not valid.*n_layers"):
        load(d)
    # features that do not fit the member files, even in a manifest consistent with itself
    d = _edit_manifest(out, tmp_path / "few", lambda m: m["features"].pop(), resign=True)
    with pytest.raises(ValueError, match=r"few/manifest\.json: member L1_\w+ was trained on 4 columns.*gives it 3"):
        load(d)
    d = _edit_manifest(out, tmp_path / "old", lambda m: None, resign=False)
    m = json.loads((d / "manifest.json").read_text())
    del m["manifest_sha256"]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match=r"old/manifest\.json: no manifest_sha256.*retrain"):
        load(d)
    d = _edit_manifest(out, tmp_path / "dup", lambda m: None, resign=False)
    text = (d / "manifest.json").read_text()
    (d / "manifest.json").write_text(text.replace('"features":', '"features": ["d", "c", "b", "a"], "features":', 1))
    with pytest.raises(ValueError, match=r"dup/manifest\.json: key 'features' is given twice"):
        load(d)


# ----------------------------------------------------------------------------- 4. E_qs in kelvin; is_dw as text
PRETRAIN = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "pretraining"


def _pretrain_features():
    from tlspipe import columns as C

    return [c for c in C.feature_columns(3) if c not in (C.T_AB, C.T_BA)]


def test_pretraining_e_qs_in_kelvin_is_refused(tmp_path):
    import pandas as pd

    from tlspipe import columns as C
    from tlspipe.loop.pretrain import read_pretraining

    feats = _pretrain_features()
    authors = pd.read_parquet(PRETRAIN / "ciarella2023-predictor-T0062.parquet")
    assert read_pretraining([PRETRAIN / "ciarella2023-predictor-T0062.parquet"], "paper", feats)[C.E_QS].median() \
        == pytest.approx(0.0157, abs=1e-4)  # as shipped: epsilon, accepted
    k = authors.assign(quantum_splitting=authors["quantum_splitting"] * 479.2)  # the authors' layout in kelvin
    k.to_parquet(tmp_path / "authors_K.parquet")
    with pytest.raises(ValueError, match=r"authors_K\.parquet: the median E_qs .* 7\.527, outside .*epsilon.*"
                                         r"looks like kelvin.*give E_qs in epsilon"):
        read_pretraining([tmp_path / "authors_K.parquet"], "paper", feats)
    # ours without e_qs_kelvin (nothing tells the units): the scale decides
    ours = authors.rename(columns=__import__("tlspipe.calibration", fromlist=["x"]).AUTHORS_COLUMNS)
    ours = ours.assign(is_dw=1.0, glass=ours["conf"].astype(str))[[C.GLASS, *feats, C.IS_DW, C.E_QS]]
    ours.to_parquet(tmp_path / "ours_eps.parquet")
    assert len(read_pretraining([tmp_path / "ours_eps.parquet"], "paper", feats)) == len(ours)
    ours.assign(e_qs=ours[C.E_QS] * 119.8).to_parquet(tmp_path / "ours_K.parquet")
    with pytest.raises(ValueError, match=r"ours_K\.parquet: the median E_qs .*looks like kelvin"):
        read_pretraining([tmp_path / "ours_K.parquet"], "argon", feats)


def test_pretraining_is_dw_as_yes_no_names_the_file(tmp_path):
    import pandas as pd

    from tlspipe.loop.pretrain import read_pretraining

    c = pd.read_parquet(PRETRAIN / "ciarella2023-classifier-T0062.parquet")
    c.assign(is_dw=np.where(c["is_dw"] > 0.5, "yes", "no")).to_parquet(tmp_path / "yesno.parquet")
    with pytest.raises(ValueError, match=r"yesno\.parquet: column 'is_dw' holds \['no', 'yes'\].*give 1"):
        read_pretraining([tmp_path / "yesno.parquet"], "paper", _pretrain_features())
    c.assign(is_dw=c["is_dw"] * 2).to_parquet(tmp_path / "two.parquet")
    with pytest.raises(ValueError, match=r"two\.parquet: column 'is_dw' holds \[2\.0\]"):
        read_pretraining([tmp_path / "two.parquet"], "paper", _pretrain_features())


# ----------------------------------------------------------------------------- 5. a key given twice in YAML / JSON
REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def _snakemake(workdir, *args):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--cores", "1"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_a_study_config_with_a_key_given_twice_is_refused(tmp_path):
    from tlspipe.workflow import ConfigError, study_config

    dup = tmp_path / "dup.yaml"
    dup.write_text((REPO / "config" / "test.yaml").read_text() + "neb:\n  images: 8\n")
    r = _snakemake(tmp_path, "-n", "--configfile", str(dup))  # as a user runs it
    assert r.returncode != 0
    assert "dup.yaml: key 'neb' is given twice (lines 17 and 33)" in r.stdout + r.stderr
    # the default study file (read by tlspipe itself), and nested mappings
    nested = tmp_path / "config.yaml"
    nested.write_text("study: x\nneb:\n  images: 8\n  tol: 1.0e-4\n  images: 9\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: key 'images' is given twice \(lines 3 and 5\)"):
        study_config({}, (), default_file=nested)
    with pytest.raises(ConfigError, match="given twice"):
        study_config({}, [nested])


def test_other_yaml_and_json_tlspipe_reads_refuse_a_key_given_twice(tmp_path, capsys):
    cfg = tmp_path / "study.yaml"
    cfg.write_text("n_particles: 200\nn_particles: 1500\n")
    rc, _, err = _run(capsys, "figure", "fig6", "--config", cfg, "--pairs", tmp_path / "p.parquet", "--tls",
                      tmp_path / "none.parquet", "--out", tmp_path / "f.png")
    assert rc == 1 and "study.yaml: key 'n_particles' is given twice" in err
    opts = tmp_path / "neb.json"
    opts.write_text('{"images": 20, "images": 30}')
    st = _small_store(tmp_path / "g" / "is.h5")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, _, err = _run(capsys, "neb", st, "--pairs", pairs, "--out", tmp_path / "e.parquet", "--config", opts)
    assert rc == 1 and "neb.json: key 'images' is given twice" in err


# ----------------------------------------------------------------------------- 6. bad values with bad messages
def test_a_study_name_that_leaves_results_is_refused(tmp_path):
    from tlspipe.workflow import ConfigError, study_config

    for name in ("..", "."):
        f = tmp_path / "s.yaml"
        f.write_text(f'study: "{name}"\n')
        with pytest.raises(ConfigError, match=r"s\.yaml: study: '\.{1,2}' is not a plain folder name"):
            study_config({"study": name}, [f])
    bad = tmp_path / "dotdot.yaml"
    bad.write_text((REPO / "config" / "test.yaml").read_text().replace("study: test", 'study: ".."'))
    r = _snakemake(tmp_path, "-n", "--configfile", str(bad))
    assert r.returncode != 0 and "study: '..' is not a plain folder name" in r.stdout + r.stderr


def test_a_glass_group_without_count_takes_the_default_1(tmp_path):
    from tlspipe.workflow import glass_table, study_config

    f = tmp_path / "c.yaml"
    f.write_text("glasses:\n  - {tf: 0.092}\n  - {tf: 0.062, count: 2}\n")
    cfg = study_config({"glasses": [{"tf": 0.092}, {"tf": 0.062, "count": 2}]}, [f])
    assert [g["count"] for g in cfg["glasses"]] == [1, 2]
    assert [g["glass"] for g in glass_table(cfg)] == ["tf0.092_g000", "tf0.062_g000", "tf0.062_g001"]
    nocount = tmp_path / "nocount.yaml"
    nocount.write_text((REPO / "config" / "test.yaml").read_text().replace("{tf: 0.092, count: 1}", "{tf: 0.092}"))
    r = _snakemake(tmp_path, "-n", "--configfile", str(nocount))
    assert r.returncode == 0, r.stderr[-2000:]


def test_install_profile_never_deletes_outside_a_profile_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    precious = tmp_path / "xdg" / "config" / "keep.txt"  # what '../config' named: ~/.config/config
    precious.parent.mkdir(parents=True)
    precious.write_text("mine")
    (tmp_path / "xdg" / "snakemake").mkdir()
    rc, _, err = _run(capsys, "install-profile", "../config", "--force")
    assert rc == 1 and "'../config' is not a plain profile name" in err and "slurm" in err
    assert precious.read_text() == "mine"
    # --force into a folder that is not a profile tlspipe installed: refused, nothing deleted
    rc, _, err = _run(capsys, "install-profile", "slurm", "--dest", precious.parent, "--force")
    assert rc == 1 and "not a profile folder installed by tlspipe" in err and "keep.txt" in err
    assert precious.read_text() == "mine" and sorted(p.name for p in precious.parent.iterdir()) == ["keep.txt"]
    # its own profile is replaced with --force (the user's edit goes, as asked)
    assert _run(capsys, "install-profile", "slurm")[0] == 0
    installed = tmp_path / "xdg" / "snakemake" / "slurm" / "config.yaml"
    installed.write_text(installed.read_text() + "# my partition\n")
    assert _run(capsys, "install-profile", "slurm", "--force")[0] == 0
    assert installed.read_text() == (REPO / "profiles" / "slurm" / "config.yaml").read_text()


@pytest.fixture(scope="module")
def small_glass_file(tmp_path_factory):
    from tlspipe import engine, model
    from tlspipe.store.lammps import write_lammps_data

    n = 100
    box = model.box_length(n)
    rng = np.random.default_rng(1)
    diam = model.diameters(n)
    x, _ = engine.fire_minimise(engine.lattice_start(n, box, rng, 0.2), diam, box, ftol=1e-8)
    p = tmp_path_factory.mktemp("glass") / "glass.data"
    write_lammps_data(p, x, diam, box)
    return p


@pytest.mark.parametrize("flags, message", [
    (["--traj-time", "-1"], "explore --traj-time -1.0: -1.0 is less than or equal to the minimum of 0"),
    (["--dt", "0"], "explore --dt 0.0: 0.0 is less than or equal to the minimum of 0"),
    (["--n-traj", "0"], "explore --n-traj 0: 0 is less than the minimum of 1"),
    (["--traj-time", "0.01"], "explore --traj-time 0.01: shorter than one quench period (tau_quench 0.05)"),
])
def test_explore_flags_out_of_range_are_refused(small_glass_file, tmp_path, capsys, flags, message):
    out = tmp_path / "ex" / "is.h5"
    rc, _, err = _run(capsys, "explore", small_glass_file, "--out", out, "--tf", "0.092", *flags)
    assert rc == 1 and message in err, err
    assert not out.exists()


def test_neb_images_are_bounded(tmp_path, capsys):
    from tlspipe.path.batch import resolve_config
    from tlspipe.workflow import ConfigError, validate_config

    st = _small_store(tmp_path / "g" / "is.h5")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, _, err = _run(capsys, "neb", st, "--pairs", pairs, "--out", tmp_path / "e.parquet", "--images", "1000000")
    assert rc == 1 and "images=1000000: at most 1000 images" in err
    assert not (tmp_path / "e.parquet").exists()
    assert resolve_config({"images": 1000}).neb.images == 1000
    with pytest.raises(ConfigError, match=r"neb\.images.*1000"):
        validate_config({"neb": {"images": 1001}})


def test_figures_refuse_is_dw_as_yes_no(tmp_path, capsys):
    import pandas as pd

    rc, _, _ = _run(capsys, "figure", "standin", "--out", tmp_path / "sd")
    assert rc == 0
    t = pd.read_parquet(tmp_path / "sd" / "tls.parquet")
    t.assign(is_dw=np.where(t["is_dw"].astype(bool), "yes", "no")).to_parquet(tmp_path / "yesno.parquet")
    rc, _, err = _run(capsys, "figure", "table1", "--tls", tmp_path / "yesno.parquet", "--out", tmp_path / "t.csv")
    assert rc == 1 and "yesno.parquet: column 'is_dw' holds ['no', 'yes']" in err  # was: every pair a DW
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("params, message", [
    ({"dt": 0.0}, "explore.dt must be a positive number"),
    ({"traj_time": -1.0}, "explore.traj_time must be a positive number"),
    ({"traj_time": 0.01, "tau_quench": 0.05}, "shorter than one quench period"),
])
def test_explore_glass_refuses_bad_values_from_any_caller(tmp_path, params, message):
    """The library function (which the workflow's explore rule calls) checks what the CLI checks: a zero
    dt is no raw ZeroDivisionError, and a trajectory shorter than a quench period is no empty store."""
    from tlspipe import engine, model
    from tlspipe.sample.explore import explore_glass

    n = 64
    box = model.box_length(n)
    diam = model.diameters(n)
    x = engine.lattice_start(n, box, np.random.default_rng(0), 0.1)
    out = tmp_path / "is.h5"
    with pytest.raises(ValueError, match=message):
        explore_glass(x, diam, box, out, tmp_path / "ckpt", seed=1, tf=0.092, **params)
    assert not out.exists()
