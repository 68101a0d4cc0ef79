"""run_pairs / `tlspipe neb`: output table, failures as rows, resume, profiles, extended XYZ, bad input."""

import numpy as np
import pandas as pd
import pytest

from tlspipe import columns as C
from tlspipe import model
from tlspipe.engine import ForceField
from tlspipe.path import DEFAULTS, batch
from tlspipe.store.isstore import ISStore, write_store

from conftest import neighbouring_minima_n100  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An IS store of a quenched N = 100 glass: IS 0 and 1 are neighbouring minima, IS 2 is not a minimum."""
    x, second, diam, box = neighbouring_minima_n100(1e-4)
    n = diam.size
    second = second - box * np.floor(second / box + 0.5)
    bad = x.copy()
    bad[5] += 0.05
    pos = np.stack([x, second, bad])
    ff = ForceField(diam, box)
    e = np.array([ff.energy(p) for p in pos]) / n
    path = tmp_path_factory.mktemp("store") / "g7.h5"
    write_store(path, ISStore(diam, box, pos, e), glass="g7")
    return path


def test_defaults_are_complete():
    for key in ["images", "spring", "tol", "max_iter", "climb", "dw_abs_tol", "dw_rel_tol", "grid_points",
                "extension_margin", "units", "tls_threshold", "endpoint_ftol"]:
        assert key in DEFAULTS
    assert DEFAULTS["images"] == 40 and DEFAULTS["spring"] == 1.0 and DEFAULTS["tls_threshold"] == 0.0015


def test_run_pairs_rows_failures_and_resume(store, tmp_path, monkeypatch):
    out = tmp_path / "exact.parquet"
    prof = tmp_path / "profiles.h5"
    pairs = pd.DataFrame({C.IS_A: [0, 0], C.IS_B: [1, 2]})
    res = batch.run_pairs(store, pairs, out, {"images": 12}, profiles_path=prof)
    assert list(res.columns) == C.IDS + C.EXACT
    assert list(res[C.GLASS]) == ["g7", "g7"]
    assert res[C.STATUS].iloc[0] == "dw"
    assert res[C.STATUS].iloc[1] == "failed: endpoint not a minimum"
    good = res.iloc[0]
    assert good[C.E_QS_K] == pytest.approx(good[C.E_QS] * 479.2)  # the default preset, paper
    assert good[C.E_QS] > 0 and good[C.BARRIER] > 0 and good[C.PATH_LENGTH] > 0 and good[C.N_ITER] > 0
    # the table on disk is the same, and carries the configuration
    import json

    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(out).metadata[b"tlspipe"])
    assert meta["config"]["images"] == 12 and meta["glass"] == "g7"
    pd.testing.assert_frame_equal(pd.read_parquet(out), res)

    # resume: finished pairs are not recomputed, new ones are
    calls = []
    real = batch.compute_pair

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(batch, "compute_pair", counting)
    more = pd.DataFrame({C.IS_A: [0, 1, 0], C.IS_B: [1, 0, 2]})
    res2 = batch.run_pairs(store, more, out, {"images": 12}, profiles_path=prof)
    assert len(calls) == 1  # only (1, 0)
    assert list(zip(res2[C.IS_A], res2[C.IS_B])) == [(0, 1), (1, 0), (0, 2)]
    # the reversed pair: same splitting and barrier (the path is the same)
    assert res2[C.E_QS].iloc[1] == pytest.approx(res2[C.E_QS].iloc[0], rel=1e-2)
    assert res2[C.BARRIER].iloc[1] == pytest.approx(res2[C.BARRIER].iloc[0], rel=1e-3)

    import h5py

    with h5py.File(prof) as h:
        g = h["g7/0_1"]
        assert g.attrs[C.STATUS] == "dw"
        assert g["xi"][0] < 0 < 1 < g["xi"][-1]  # the extension on both sides
        assert g["energy_images"].shape == (12,)


def test_a_crash_becomes_a_failed_row(store, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(batch, "neb_pair", boom)
    res = batch.run_pairs(store, pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}), tmp_path / "x.parquet")
    assert res[C.STATUS].iloc[0] == "failed: RuntimeError: simulated crash"


def test_cli_with_csv_profiles_and_xyz(store, tmp_path):
    from ase.io import read

    from tlspipe.cli import main

    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({C.IS_A: [1], C.IS_B: [0]}).to_csv(pairs, index=False)
    out = tmp_path / "o.parquet"
    rc = main(["neb", str(store), "--pairs", str(pairs), "--out", str(out), "--units", "nip", "--images", "9",
               "--path-xyz", str(tmp_path / "xyz"), "--profiles", str(tmp_path / "p.h5")])
    assert rc == 0
    df = pd.read_parquet(out)
    assert df[C.STATUS].iloc[0] == "dw"
    assert df[C.E_QS_K].iloc[0] == pytest.approx(df[C.E_QS].iloc[0] * 934.0)
    frames = read(tmp_path / "xyz" / "g7_1_0.xyz", index=":")  # an independent extended-XYZ reader
    assert len(frames) == 9 and len(frames[0]) == 100
    assert np.allclose(frames[0].cell.lengths(), model.box_length(100))
    from tlspipe.store.isstore import read_positions

    x1 = read_positions(store, [1])[0]
    assert np.allclose(frames[0].get_positions(), x1, atol=1e-9)


def test_bad_input(store, tmp_path):
    with pytest.raises(ValueError, match="is_b"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0]}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match="out of range"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0], C.IS_B: [7]}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match="with itself"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [1], C.IS_B: [1]}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match="unknown exact-path option"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}), tmp_path / "a.parquet", {"imags": 3})
    with pytest.raises(ValueError, match="unit preset"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}), tmp_path / "a.parquet", {"units": "x"})
    with pytest.raises(FileNotFoundError, match="no such pairs file"):
        batch.run_pairs(store, tmp_path / "missing.csv", tmp_path / "a.parquet")
    with pytest.raises(ValueError, match="integer"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0.5], C.IS_B: [1]}), tmp_path / "a.parquet")


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], {"units": "nip", "images": 30, "tol": 1e-3, "max_iter": 77, "climb": False}),  # the file wins
        (["--images", "9", "--units", "argon"], {"units": "argon", "images": 9, "tol": 1e-3, "max_iter": 77}),
        (["--tol", "1e-5", "--max-iter", "5"], {"units": "nip", "images": 30, "tol": 1e-5, "max_iter": 5}),
    ],
)
def test_cli_config_file_against_flags(store, tmp_path, monkeypatch, flags, expected):
    """defaults < --config file < flags given on the command line (a flag's default never beats the file)."""
    import json

    from tlspipe.cli import main

    seen = {}

    def fake_run_pairs(store_path, pairs, out, cfg, **kw):
        seen.update(batch.resolve_config(cfg).as_dict())
        return pd.DataFrame({C.STATUS: []})

    monkeypatch.setattr(batch, "run_pairs", fake_run_pairs)
    conf = tmp_path / "neb.json"
    conf.write_text(json.dumps({"units": "nip", "images": 30, "tol": 1e-3, "max_iter": 77, "climb": False}))
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}).to_csv(pairs, index=False)
    assert main(["neb", str(store), "--pairs", str(pairs), "--out", str(tmp_path / "o.parquet"),
                 "--config", str(conf), *flags]) == 0
    assert {k: seen[k] for k in expected} == expected
    # without a file, the flags' absence means the package defaults
    seen.clear()
    assert main(["neb", str(store), "--pairs", str(pairs), "--out", str(tmp_path / "o.parquet")]) == 0
    assert {k: seen[k] for k in ("units", "images", "tol", "max_iter", "climb")} == {
        k: DEFAULTS[k] for k in ("units", "images", "tol", "max_iter", "climb")}
    assert main(["neb", str(store), "--pairs", str(pairs), "--out", str(tmp_path / "o.parquet"), "--no-climb"]) == 0
    assert seen["climb"] is False


def test_cli_bad_config_file_names_it(store, tmp_path, capsys):
    from tlspipe.cli import main

    conf = tmp_path / "neb.json"
    conf.write_text("[1, 2]")
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}).to_csv(pairs, index=False)
    assert main(["neb", str(store), "--pairs", str(pairs), "--out", str(tmp_path / "o.parquet"),
                 "--config", str(conf)]) == 1
    assert f"{conf}: expected a JSON object" in capsys.readouterr().err


def test_stale_results_are_recomputed_not_reused(store, tmp_path, monkeypatch, caplog):
    """A result is reused only when store content, glass label, physics options and version all match; other
    results are moved aside (kept) with a warning naming the file and what differs, and recomputed."""
    import json
    import logging

    import pyarrow.parquet as pq

    from tlspipe.cli import main

    calls = []

    def fake_compute(x_a, x_b, diam, box, opts):  # tags each row with the options it was made with
        calls.append(opts.neb.images)
        row = {c: np.nan for c in C.EXACT}
        row.update({C.STATUS: f"not_dw images={opts.neb.images} units={opts.units}", C.N_ITER: 0})
        return row, None

    monkeypatch.setattr(batch, "compute_pair", fake_compute)
    out = tmp_path / "stale.parquet"
    pairs = tmp_path / "p.csv"
    pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}).to_csv(pairs, index=False)

    def neb(*flags):
        calls.clear()
        assert main(["neb", str(store), "--pairs", str(pairs), "--out", str(out), *flags]) == 0
        return pd.read_parquet(out)[C.STATUS].tolist()

    assert neb("--units", "argon", "--images", "12") == ["not_dw images=12 units=argon"] and calls == [12]
    assert neb("--units", "argon", "--images", "12") == ["not_dw images=12 units=argon"] and calls == []  # reused
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tlspipe.path.batch"):
        # the example: other units and images must not print the stale row
        assert neb("--units", "nip", "--images", "30") == ["not_dw images=30 units=nip"] and calls == [30]
    msg = caplog.text
    assert str(out) in msg and "images=12 (now 30)" in msg and "units='argon' (now 'nip')" in msg
    assert "stale.stale-1.parquet" in msg
    kept = pd.read_parquet(tmp_path / "stale.stale-1.parquet")  # the old results are kept, not deleted
    assert kept[C.STATUS].tolist() == ["not_dw images=12 units=argon"]
    meta = json.loads(pq.read_schema(out).metadata[b"tlspipe"])["provenance"]
    assert meta["glass"] == "g7" and meta["options"]["images"] == 30 and meta["store_sha256"]

    # another glass label for the same store
    calls.clear()
    assert main(["neb", str(store), "--pairs", str(pairs), "--out", str(out), "--units", "nip", "--images", "30",
                 "--glass", "other"]) == 0
    assert calls == [30] and (tmp_path / "stale.stale-2.parquet").exists()

    # another store (same glass label, same options): other IS content
    from tlspipe.store.isstore import read_store, write_store

    s = read_store(store)
    s.positions[0, 0, 0] += 1e-3
    other = tmp_path / "g7.h5"
    write_store(other, s)
    calls.clear()
    with caplog.at_level(logging.WARNING, logger="tlspipe.path.batch"):
        assert main(["neb", str(other), "--pairs", str(pairs), "--out", str(out), "--units", "nip", "--images", "30",
                     "--glass", "other"]) == 0
    assert calls == [30] and "store_sha256" in caplog.text

    # results written before provenance existed are not trusted either
    table = pq.read_table(out)
    md = dict(table.schema.metadata)
    old = json.loads(md[b"tlspipe"])
    del old["provenance"]
    md[b"tlspipe"] = json.dumps(old).encode()
    pq.write_table(table.replace_schema_metadata(md), out)
    calls.clear()
    batch.run_pairs(other, pairs, out, {"units": "nip", "images": 30}, glass="other")
    assert calls == [30]


def test_an_output_that_is_not_a_results_table_is_refused_and_kept(store, tmp_path):
    out = tmp_path / "mine.parquet"
    pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}).to_parquet(out)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="not a results table of 'tlspipe neb' - move it away"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}), out)
    assert out.read_bytes() == before
    out.write_text("is_a,is_b\n0,1\n")
    with pytest.raises(ValueError, match="cannot be read as Parquet"):
        batch.run_pairs(store, pd.DataFrame({C.IS_A: [0], C.IS_B: [1]}), out)


def test_workflow_side_file_of_other_options_is_not_reused(store, tmp_path, monkeypatch):
    """run_chunk (the neb rule) keeps finished pairs in a side file; one left by a run with other options
    (a config edit between the kill and the rerun) is moved aside and its pairs recomputed."""
    from tlspipe.path.chunk import run_chunk
    from tlspipe.workflow import rule_config

    def fake_compute(x_a, x_b, diam, box, opts):
        row = {c: np.nan for c in C.EXACT}
        row.update({C.STATUS: f"not_dw images={opts.neb.images}", C.N_ITER: 0})
        return row, None

    monkeypatch.setattr(batch, "compute_pair", fake_compute)
    chunk = tmp_path / "g7.000.parquet"
    pd.DataFrame({C.GLASS: ["g7"], C.IS_A: [0], C.IS_B: [1]}).to_parquet(chunk)
    partial = tmp_path / "partial" / "g7.000.parquet"
    batch.run_pairs(store, pd.read_parquet(chunk)[[C.IS_A, C.IS_B]], partial, {"images": 12})  # killed run
    cfg = {"neb": {**{k: v for k, v in DEFAULTS.items() if k not in ("units", "tls_threshold")}, "images": 20,
                   "chunk": 5}, "units": "argon", "tls_threshold": 0.0015}
    options = rule_config(cfg, "neb", with_keys=("units", "tls_threshold"))  # what the neb rule receives
    res = run_chunk(options, store, chunk, tmp_path / "exact" / "g7.000.parquet", partial)
    assert res[C.STATUS].tolist() == ["not_dw images=20"]
    assert (partial.parent / "g7.000.stale-1.parquet").exists() and not partial.exists()


@pytest.mark.parametrize("attr, folder, expected", [("gA", "elsewhere", "gA"), ("", "gB", "gB")])
def test_features_and_neb_name_a_store_the_same_glass(store, tmp_path, monkeypatch, attr, folder, expected):
    """One rule for every command: the store's glass attribute, else its folder; so the pair table of
    `features` is accepted by `neb` for the same store."""
    from tlspipe.pairs import featurise_store
    from tlspipe.store.isstore import read_store, write_store

    s = read_store(store)
    s.attrs["glass"] = attr
    path = write_store(tmp_path / folder / "is.h5", s)
    pairs = tmp_path / "pairs.parquet"
    featurise_store(path, pairs, max_delta_e=np.inf, threads=1)
    assert set(pd.read_parquet(pairs)[C.GLASS]) == {expected}

    def fake_compute(x_a, x_b, diam, box, cfg):
        return {**{c: np.nan for c in C.EXACT}, C.STATUS: "not_dw", C.N_ITER: 0}, None

    monkeypatch.setattr(batch, "compute_pair", fake_compute)
    res = batch.run_pairs(path, pairs, tmp_path / "exact.parquet")
    assert set(res[C.GLASS]) == {expected} and len(res) == 3


def test_a_neb_job_opens_its_store_once(store, tmp_path, monkeypatch):
    """One handle serves the store's header, its content hash and the IS of every pair; the positions each
    pair gets are those read_positions reads."""
    from tlspipe.store import isstore

    opened, seen = [], []
    real_open = isstore.open_store
    monkeypatch.setattr(isstore, "open_store", lambda p: opened.append(p) or real_open(p))

    def fake_compute(x_a, x_b, diam, box, opts):
        seen.append((x_a.copy(), x_b.copy()))
        row = {c: np.nan for c in C.EXACT}
        row.update({C.STATUS: "not_dw", C.N_ITER: 0})
        return row, None

    monkeypatch.setattr(batch, "compute_pair", fake_compute)
    pairs = pd.DataFrame({C.IS_A: [0, 0, 1], C.IS_B: [1, 2, 2]})
    batch.run_pairs(store, pairs, tmp_path / "out.parquet")
    assert len(opened) == 1
    want = isstore.read_positions(store, [0, 1, 2])
    for (a, b), (xa, xb) in zip([(0, 1), (0, 2), (1, 2)], seen):
        np.testing.assert_array_equal(xa, want[a])
        np.testing.assert_array_equal(xb, want[b])
