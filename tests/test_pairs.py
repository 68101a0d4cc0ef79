"""Pair features: the authors' fixture, analytic cases, a plain numpy reference, incremental runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tlspipe import __version__, columns
from tlspipe.pairs import PairsError, featurise_store, pair_features, read_metadata
from tlspipe.pairs import features as pf
from tlspipe.store.isstore import ISStore, write_store

from conftest import FIXTURE_DIR as FIXTURE  # ../shared/fixtures beside the repository (or TLSPIPE_FIXTURES)
FILES = ["2.044810139E-01.conf.txt", "2.046749726E-01.conf.txt"]
E_FILES = [0.2044810139, 0.2046749726]  # energy per particle, from the file names
L_FIX = 11.447142426


def _read_fixture(name):
    """(positions (N, 3) ordered by atom id, box (3,)) of one of the authors' LAMMPS data files."""
    try:
        from tlspipe.store.lammps import read_lammps_data
    except ImportError:  # the reader is optional for this test: plain text columns id type q x y z ix iy iz
        a = np.loadtxt(FIXTURE / name, skiprows=18)
        a = a[np.argsort(a[:, 0])]
        return a[:, 3:6], np.full(3, L_FIX)
    d = read_lammps_data(FIXTURE / name)
    return d.positions, d.box


# ------------------------------------------------------------------------- independent numpy reference

def ref_geo(pa, pb, box, m):
    """Plain numpy features of one pair, from the definitions in tlspipe.pairs.features."""
    box = np.broadcast_to(box, (3,))
    dr = pb - pa
    dr -= box * np.round(dr / box)
    t = dr[0] + (dr - dr[0] - box * np.round((dr - dr[0]) / box)).mean(axis=0)  # the global translation
    dr -= t
    dr -= box * np.round(dr / box)
    r2 = (dr**2).sum(axis=1)
    o = np.argsort(-r2, kind="stable")
    mid = pa + dr / 2
    out = {f"dr_{k + 1}": float(np.sqrt(r2[o[k]])) for k in range(m)}
    out["d"] = float(np.sqrt(r2.sum()))
    out["pr"] = float(r2.sum() ** 2 / (r2**2).sum()) if r2.max() > 1e-18 else 0.0  # moved: > 1e-9 sigma
    for k in range(1, m):
        s = mid[o[k]] - mid[o[0]]
        s -= box * np.round(s / box)
        out[f"dist_1_{k + 1}"] = float(np.linalg.norm(s)) if r2[o[k]] > 1e-18 else 0.0
    return out


def ref_table(store: ISStore, m, max_delta_e):
    """All pairs by brute force, sorted by (is_a, is_b)."""
    n, npart = store.n_is, store.n_particles
    T = np.zeros((n, n), np.int64)
    np.add.at(T, (store.trans_src, store.trans_dst), store.trans_count)
    rows = []
    for i in range(n):
        for j in range(i + 1, n):
            a, b = (i, j) if (store.energy[i], i) < (store.energy[j], j) else (j, i)
            de = npart * (store.energy[b] - store.energy[a])
            if de > max_delta_e:
                continue
            r = {columns.IS_A: a, columns.IS_B: b, columns.DELTA_E: de}
            r.update(ref_geo(store.positions[a], store.positions[b], store.box, m))
            r[columns.T_AB], r[columns.T_BA] = T[a, b], T[b, a]
            rows.append(r)
    rows.sort(key=lambda r: (r[columns.IS_A], r[columns.IS_B]))
    return rows


def random_store(rng, n_is=30, n_part=40, box=4.0, e_spread=3.0, n_trans=60, ties=True):
    """Perturbations (some across the box edge) of one random configuration; energies spread over
    e_spread / N per particle so that part of the pairs fail delta_e <= 1."""
    base = rng.uniform(-box / 2, box / 2, (n_part, 3))
    pos = base + rng.normal(0, 0.15, (n_is, n_part, 3)) * rng.uniform(0, 1, (n_is, n_part, 1)) ** 4
    pos -= box * np.floor(pos / box + 0.5)
    energy = rng.uniform(0, e_spread / n_part, n_is)
    if ties:
        energy[3] = energy[7]  # equal energies: the lower store index is is_a
    src = rng.integers(0, n_is, n_trans)
    dst = (src + rng.integers(1, n_is, n_trans)) % n_is
    cnt = rng.integers(1, 5, n_trans)
    return ISStore(diameters=np.ones(n_part), box=np.full(3, box), positions=pos, energy=energy,
                   trans_src=src, trans_dst=dst, trans_count=cnt)


def sorted_rows(path):
    t = pq.read_table(path).to_pandas()
    return t.sort_values([columns.IS_A, columns.IS_B]).reset_index(drop=True)


def assert_matches(df, ref, m, rtol=1e-12, atol=1e-12):
    assert len(df) == len(ref)
    for c in (columns.IS_A, columns.IS_B, columns.T_AB, columns.T_BA):
        np.testing.assert_array_equal(df[c].to_numpy(), [r[c] for r in ref], err_msg=c)
    np.testing.assert_array_equal(df[columns.DELTA_E].to_numpy(), [r[columns.DELTA_E] for r in ref])
    for c in columns.feature_columns(m)[1:-2]:
        np.testing.assert_allclose(df[c].to_numpy(), [r[c] for r in ref], rtol=rtol, atol=atol, err_msg=c)


# ------------------------------------------------------------------------- the authors' pair

@pytest.fixture(scope="module")
def fixture_pair():
    if not FIXTURE.exists():
        pytest.skip("fixture ciarella2023_T0.062 not available")
    (pa, box), (pb, _) = _read_fixture(FILES[0]), _read_fixture(FILES[1])
    np.testing.assert_allclose(box, L_FIX, rtol=1e-9)
    exp = json.loads((FIXTURE / "expected.json").read_text())["pair_features_authors"]
    return pa, pb, box, exp


def _check_authors(feat, de, exp):
    assert abs(de - exp["Delta_E"]) <= 5e-7  # given to 6 decimals
    for ours, theirs in [("dr_1", "displacement_0"), ("dr_2", "displacement_1"), ("dr_3", "displacement_2"),
                         ("d", "total_displacement"), ("pr", "PR"), ("dist_1_2", "0to1"), ("dist_1_3", "0to2")]:
        assert feat[ours] == pytest.approx(exp[theirs], rel=1e-6), ours  # given to 7 digits


def test_fixture_pair_reproduces_authors(fixture_pair):
    pa, pb, box, exp = fixture_pair
    feat = pair_features(pa, pb, box, m=3)
    _check_authors(feat, 1500 * (E_FILES[1] - E_FILES[0]), exp)
    assert pair_features(pb, pa, box, m=3) == pytest.approx(feat, rel=1e-13)


def test_fixture_store_end_to_end(fixture_pair, tmp_path):
    """The same pair through the store -> chunked kernel -> Parquet path, higher IS stored first."""
    pa, pb, box, exp = fixture_pair
    store = ISStore(diameters=np.ones(len(pa)), box=box, positions=np.stack([pb, pa]),
                    energy=[E_FILES[1], E_FILES[0]])
    p = write_store(tmp_path / "glassX" / "is.h5", store)
    s = featurise_store(p, tmp_path / "pairs.parquet", threads=1)
    assert s["n_pairs"] == 1
    df = pq.read_table(tmp_path / "pairs.parquet").to_pandas()
    row = df.iloc[0]
    assert (row[columns.GLASS], row[columns.IS_A], row[columns.IS_B]) == ("glassX", 1, 0)
    assert (row[columns.T_AB], row[columns.T_BA]) == (exp["Tij"], exp["Tji"])
    _check_authors(row, row[columns.DELTA_E], exp)


# ------------------------------------------------------------------------- analytic cases

def test_minimum_image_and_analytic_values():
    """Four particles, known moves that leave the centre of mass in place (no global translation), two of
    them across the box edge."""
    L = 5.0
    pa = np.array([[2.4, 0.0, 0.0], [-2.45, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    move = np.array([[0.3, 0.0, 0.0], [0.0, 0.0, -0.2], [0.0, 0.0, -0.1], [-0.3, 0.0, 0.3]])
    pb = pa + move
    pb -= L * np.floor(pb / L + 0.5)  # particle 0 crosses +x: stored at -2.3
    assert pb[0, 0] == pytest.approx(-2.3)
    f = pair_features(pa, pb, L, m=3)
    assert f["dr_1"] == pytest.approx(np.hypot(0.3, 0.3), abs=1e-12)
    assert f["dr_2"] == pytest.approx(0.3, abs=1e-12)  # not L - 0.3
    assert f["dr_3"] == pytest.approx(0.2, abs=1e-12)
    assert f["d"] == pytest.approx(np.sqrt(0.32), rel=1e-12)
    assert f["pr"] == pytest.approx(0.32**2 / (0.18**2 + 0.3**4 + 0.2**4 + 0.1**4), rel=1e-12)
    # midpoints: particle 3 at (0.85, 1, 1.15); particle 0 at (2.55, 0, 0) == (-2.45, 0, 0): (1.7, -1, -1.15)
    assert f["dist_1_2"] == pytest.approx(np.linalg.norm([1.7, 1.0, 1.15]), rel=1e-12)
    # particle 1 at (-2.45, 1, -0.1): (-3.3, 0, -1.25) -> minimum image (1.7, 0, -1.25)
    assert f["dist_1_3"] == pytest.approx(np.linalg.norm([1.7, 0.0, 1.25]), rel=1e-12)
    # the box may be given per axis; an orthorhombic box uses each edge
    assert pair_features(pa, pb, [L, L, L], m=3) == pytest.approx(f, rel=1e-14)
    # a z edge of 2.2: particle 3 (z 1.3) is stored at -0.9; midpoint distances wrap in z as well
    pz = pb.copy()
    pz[3, 2] -= 2.2
    fz = pair_features(pa, pz, [L, L, 2.2], m=3)
    assert fz["dr_1"] == pytest.approx(f["dr_1"], abs=1e-12)
    assert fz["dist_1_2"] == pytest.approx(np.linalg.norm([1.7, 1.0, 1.05]), rel=1e-12)
    assert fz["dist_1_3"] == pytest.approx(np.linalg.norm([1.7, 0.0, 0.95]), rel=1e-12)


def test_a_global_translation_is_removed():
    """Translating one IS rigidly (by any amount, across the box edge too) changes no feature; the features
    are those of the displacements with their mean removed (the numpy reference)."""
    rng = np.random.default_rng(8)
    L = 6.0
    pa = rng.uniform(-L / 2, L / 2, (60, 3))
    pb = pa.copy()
    pb[:3] += rng.normal(0, 0.4, (3, 3))  # a local rearrangement of three particles
    f = pair_features(pa, pb, L, m=3)
    assert f == pytest.approx(ref_geo(pa, pb, L, 3), rel=1e-12, abs=1e-12)
    for t in ([0.3, 0.0, 0.0], [0.3, -0.2, 0.1], [0.45 * L, 0.2, -0.49 * L]):
        moved = pb + np.array(t)
        moved -= L * np.floor(moved / L + 0.5)
        assert pair_features(pa, moved, L, m=3) == pytest.approx(f, rel=1e-10, abs=1e-12), t
        same = pa + np.array(t)
        same -= L * np.floor(same / L + 0.5)
        assert all(v == pytest.approx(0.0, abs=1e-12) for v in pair_features(pa, same, L, m=3).values())


def test_identical_pair_is_zero_and_swap_symmetric():
    rng = np.random.default_rng(3)
    L = 6.0
    pa = rng.uniform(-L / 2, L / 2, (50, 3))
    f0 = pair_features(pa, pa.copy(), L, m=4)
    assert all(v == 0.0 for v in f0.values()), f0
    pb = pa + rng.normal(0, 0.3, pa.shape)
    pb -= L * np.floor(pb / L + 0.5)
    f = pair_features(pa, pb, L, m=4)
    assert pair_features(pb, pa, L, m=4) == pytest.approx(f, rel=1e-13)
    assert f == pytest.approx(ref_geo(pa, pb, L, 4), rel=1e-12)
    assert list(f) == columns.feature_columns(4)[1:-2]


def test_single_mover_and_bad_input():
    pa = np.zeros((5, 3))
    pa[:, 0] = np.arange(5)
    pb = pa.copy()
    pb[2, 1] += 0.5  # two opposite movers: the centre of mass stays
    pb[4, 1] -= 0.5
    f = pair_features(pa, pb, 10.0, m=3)
    assert (f["dr_1"], f["dr_2"], f["dr_3"], f["d"], f["pr"], f["dist_1_2"], f["dist_1_3"]) == pytest.approx(
        (0.5, 0.5, 0, np.sqrt(0.5), 2.0, np.hypot(2.0, 0.5), 0), abs=1e-12)
    with pytest.raises(PairsError, match="m"):
        pair_features(pa, pb, 10.0, m=0)
    with pytest.raises(PairsError, match="box"):
        pair_features(pa, pb, -1.0)
    with pytest.raises(PairsError, match=r"\(N, 3\)"):
        pair_features(pa, pb[:4], 10.0)


# ------------------------------------------------------------------------- whole store vs reference

@pytest.mark.parametrize("m,max_de,block,tiles", [(3, 1.0, 7, (3, 2)), (2, np.inf, None, None),
                                                   (4, 0.5, 5, (32, 16))])
def test_store_matches_numpy_reference(tmp_path, monkeypatch, m, max_de, block, tiles):
    rng = np.random.default_rng(11)
    store = random_store(rng)
    p = write_store(tmp_path / "g1" / "is.h5", store)
    if tiles:
        monkeypatch.setattr(pf, "TILE_ROWS", tiles[0])
        monkeypatch.setattr(pf, "TILE_COLS", tiles[1])
    out = tmp_path / "pairs.parquet"
    s = featurise_store(p, out, m=m, max_delta_e=max_de, block_is=block, chunk_rows=37)
    ref = ref_table(store, m, max_de)
    assert 0 < len(ref) and (len(ref) < 435 or max_de == np.inf)  # the filter is exercised
    df = sorted_rows(out)
    assert_matches(df, ref, m)
    assert s["n_pairs"] == s["n_new_pairs"] == len(ref)
    assert (df[columns.GLASS] == "g1").all()
    assert list(pq.read_schema(out).names) == columns.IDS + columns.feature_columns(m)
    assert pq.ParquetFile(out).metadata.num_row_groups == -(-len(ref) // 37)
    assert (df[columns.T_AB] + df[columns.T_BA]).sum() > 0  # transitions are looked up


def test_threads_and_blocking_do_not_change_results(tmp_path):
    rng = np.random.default_rng(5)
    p = write_store(tmp_path / "g" / "is.h5", random_store(rng, n_is=25))
    a = featurise_store(p, tmp_path / "a.parquet", threads=1, block_is=4)
    b = featurise_store(p, tmp_path / "b.parquet", threads=2)
    assert a["n_pairs"] == b["n_pairs"] > 0
    da, db = sorted_rows(tmp_path / "a.parquet"), sorted_rows(tmp_path / "b.parquet")
    assert da.equals(db)  # bit-identical: each pair is always evaluated as (lower, higher)


def test_metadata_and_cli(tmp_path, capsys):
    from tlspipe.cli import main

    rng = np.random.default_rng(2)
    p = write_store(tmp_path / "glass_17" / "is.h5", random_store(rng, n_is=12))
    out = tmp_path / "out" / "p.parquet"
    assert main(["features", str(p), "--out", str(out), "--m", "2", "--max-delta-e", "2.5", "--threads", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    meta = read_metadata(out)
    assert (meta["m"], meta["max_delta_e"], meta["n_is"], meta["tlspipe_version"]) == (2, 2.5, 12, __version__)
    assert meta["store"] == str(p.resolve()) and meta["glass"] == "glass_17"
    df = pq.read_table(out).to_pandas()
    assert len(df) == summary["n_pairs"] and set(df[columns.GLASS]) == {"glass_17"}
    assert main(["features", str(p), "--out", str(out), "--glass", "other", "--recompute"]) == 0
    assert set(pq.read_table(out).column(columns.GLASS).to_pylist()) == {"other"}


# ------------------------------------------------------------------------- incremental

def _grow(store: ISStore, rng, n_new):
    more = random_store(rng, n_is=n_new, n_part=store.n_particles, box=float(store.box[0]), ties=False)
    n = store.n_is + n_new
    src = rng.integers(0, n, 40)
    dst = (src + rng.integers(1, n, 40)) % n
    return ISStore(diameters=store.diameters, box=store.box,
                   positions=np.concatenate([store.positions, more.positions]),
                   energy=np.concatenate([store.energy, more.energy]),
                   trans_src=np.concatenate([store.trans_src, src]),
                   trans_dst=np.concatenate([store.trans_dst, dst]),
                   trans_count=np.concatenate([store.trans_count, rng.integers(1, 3, 40)]))


def test_incremental_equals_from_scratch(tmp_path):
    rng = np.random.default_rng(8)
    s0 = random_store(rng, n_is=20)
    p = write_store(tmp_path / "g" / "is.h5", s0)
    out = tmp_path / "inc.parquet"
    first = featurise_store(p, out, block_is=6, chunk_rows=50)
    s1 = _grow(s0, rng, 13)
    write_store(p, s1)  # new transitions also touch old pairs
    inc = featurise_store(p, out, block_is=6, chunk_rows=50)
    assert inc["mode"].startswith("incremental") and inc["n_old_is"] == 20
    assert inc["n_kept_pairs"] == first["n_pairs"]
    full = featurise_store(p, tmp_path / "full.parquet", incremental=False)
    assert full["mode"] == "full"
    assert inc["n_pairs"] == full["n_pairs"] == inc["n_kept_pairs"] + inc["n_new_pairs"]
    a, b = sorted_rows(out), sorted_rows(tmp_path / "full.parquet")
    assert a.equals(b)
    assert_matches(a, ref_table(s1, 3, 1.0), 3)
    assert read_metadata(out)["n_is"] == 33
    # nothing new: only the transition counts are refreshed
    again = featurise_store(p, out)
    assert again["n_new_pairs"] == 0 and sorted_rows(out).equals(b)


def test_incremental_recomputes_when_settings_or_store_change(tmp_path):
    rng = np.random.default_rng(9)
    s0 = random_store(rng, n_is=15)
    p = write_store(tmp_path / "g" / "is.h5", s0)
    out = tmp_path / "p.parquet"
    featurise_store(p, out)
    assert featurise_store(p, out, m=2)["mode"].startswith("full")
    assert featurise_store(p, out, m=2, max_delta_e=0.5)["mode"].startswith("full")
    s0.energy[0] += 1e-3
    write_store(p, s0)
    r = featurise_store(p, out, m=2, max_delta_e=0.5)
    assert r["mode"].startswith("full") and "differ" in r["mode"]
    assert_matches(sorted_rows(out), ref_table(s0, 2, 0.5), 2)


def test_failure_leaves_old_output_intact(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    p = write_store(tmp_path / "g" / "is.h5", random_store(rng, n_is=10))
    out = tmp_path / "p.parquet"
    featurise_store(p, out)
    before = out.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("killed")

    monkeypatch.setattr(pf, "_compute", boom)
    with pytest.raises(RuntimeError):
        featurise_store(p, out, incremental=False)
    assert out.read_bytes() == before
    assert not (tmp_path / "p.parquet.tmp").exists()


def test_small_and_bad_stores(tmp_path):
    rng = np.random.default_rng(1)
    one = random_store(rng, n_is=1, n_trans=0, ties=False)
    p = write_store(tmp_path / "g" / "is.h5", one)
    s = featurise_store(p, tmp_path / "e.parquet")
    assert s["n_pairs"] == 0 and pq.read_table(tmp_path / "e.parquet").num_rows == 0
    with pytest.raises(PairsError, match="no such IS store"):
        featurise_store(tmp_path / "missing.h5", tmp_path / "x.parquet")
    with pytest.raises(PairsError, match="max_delta_e"):
        featurise_store(p, tmp_path / "x.parquet", max_delta_e=-1)
    with pytest.raises(PairsError, match="threads"):
        featurise_store(p, tmp_path / "x.parquet", threads=0)
    bad = random_store(rng, n_is=4, ties=False, n_trans=0)
    bad.positions[2, 5, 1] = np.nan
    pb = write_store(tmp_path / "b" / "is.h5", bad)
    with pytest.raises(PairsError, match=r"is\.h5.*positions.*\[2\]"):
        featurise_store(pb, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
