"""Batch selection without repeats, the stop rule, and the standard procedure's filter."""

import numpy as np
import pandas as pd
import pytest

from tlspipe import columns as C
from tlspipe.loop import baseline_batch, initial_batch, next_batch, should_stop, split_chunks


def _pairs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        C.GLASS: rng.choice(["g0", "g1"], n),
        C.IS_A: np.arange(n), C.IS_B: np.arange(n) + 1000,
        C.D: rng.uniform(0.05, 2.0, n),
        C.T_AB: rng.integers(0, 8, n), C.T_BA: rng.integers(0, 8, n),
    })


def test_initial_batch_screens_and_samples():
    p = _pairs()
    b = initial_batch(p, 40, seed=1, screen_fraction=0.5)
    assert len(b) == 40 and not b.duplicated().any()
    smallest = p.nsmallest(20, C.D)[C.IS_A]
    assert set(smallest) <= set(b[C.IS_A])
    assert b.equals(initial_batch(p, 40, seed=1, screen_fraction=0.5))  # seeded


def test_next_batch_lowest_predicted_and_no_repeats():
    p = _pairs()
    rng = np.random.default_rng(2)
    pred = p[C.IDS].assign(pred_dw=rng.uniform(0, 1, len(p)), pred_e_qs=rng.lognormal(-5, 1, len(p)))
    done = pred.nsmallest(10, "pred_e_qs")[C.IDS]
    b = next_batch(pred, done, 15, dw_threshold=0.5)
    assert len(b) == 15
    assert not pd.MultiIndex.from_frame(b).isin(pd.MultiIndex.from_frame(done)).any()
    chosen = pred.merge(b, on=C.IDS)
    assert (chosen["pred_dw"] >= 0.5).all()
    rest = pred.merge(b, on=C.IDS, how="left", indicator=True)
    rest = rest[(rest["_merge"] == "left_only") & (rest["pred_dw"] >= 0.5)]
    rest = rest[~pd.MultiIndex.from_frame(rest[C.IDS]).isin(pd.MultiIndex.from_frame(done))]
    assert chosen["pred_e_qs"].max() <= rest["pred_e_qs"].min()
    # fills up with the most probable DW when too few pass the threshold; never empty while pairs remain
    b2 = next_batch(pred.assign(pred_dw=0.1), done, 5)
    assert len(b2) == 5


def _exact(n_tls, n_other):
    return pd.DataFrame({C.STATUS: ["dw"] * (n_tls + n_other), C.E_QS: [1e-4] * n_tls + [1e-1] * n_other})


def test_stop_rule():
    thr = 0.0015
    assert should_stop([_exact(5, 5)], thr, 4, 0.01) == (False, "round 0 done")
    assert not should_stop([_exact(5, 5), _exact(3, 7)], thr, 4, 0.01)[0]
    stop, why = should_stop([_exact(200, 5), _exact(1, 7)], thr, 4, 0.01)
    assert stop and "fewer than" in why  # 1 < 1% of 201
    assert should_stop([_exact(5, 5)] * 5, thr, 4, 0.01)[0]  # max_rounds
    assert not should_stop([_exact(5, 5)] * 5, thr, 6, 0.01)[0]  # a larger max_rounds extends the loop
    assert should_stop([_exact(5, 5), _exact(0, 0)], thr, 4, 0.01)[0]
    assert not should_stop([_exact(0, 5), _exact(0, 6)], thr, 4, 0.01)[0]  # none found yet: go on
    assert should_stop([_exact(0, 5), _exact(0, 6), _exact(0, 6)], thr, 2, 0.01)[0]


def test_baseline_filter_and_chunks():
    p = _pairs()
    b = baseline_batch(p, 4)
    m = p.merge(b, on=C.IDS)
    assert len(m) == len(b) == int((np.minimum(p[C.T_AB], p[C.T_BA]) >= 4).sum())
    chunks = split_chunks(b, 7)
    assert sum(len(c) for c in chunks) == len(b)
    assert all(c[C.GLASS].nunique() == 1 and len(c) <= 7 for c in chunks)


def test_min_hops_restricts_every_round_to_pairs_seen_hopping(tmp_path):
    from tlspipe.loop.run import select_initial, select_next

    p = _pairs(300, seed=3)
    p.loc[:150, [C.T_AB, C.T_BA]] = 0  # half the pairs never seen to hop
    hops = p[C.T_AB] + p[C.T_BA]
    files = []
    for g, df in p.groupby(C.GLASS):
        f = tmp_path / f"{g}.parquet"
        df.to_parquet(f)
        files.append(str(f))
    b0 = select_initial(files, tmp_path / "b0.parquet", tmp_path / "c0", k0=60, screen_fraction=0.5, seed=1,
                        chunk=20, min_hops=1)
    ok = set(map(tuple, p.loc[hops >= 1, C.IDS].to_numpy()))
    assert len(b0) == 60 and set(map(tuple, b0[C.IDS].to_numpy())) <= ok
    # the predictions favour the never-hopping pairs; with min_hops = 3 none of them may be chosen
    pred = p[C.IDS].copy()
    pred[C.PRED_DW] = 0.9
    pred[C.PRED_E_QS] = np.where(hops == 0, 1e-4, 1e-2) + 1e-6 * np.arange(len(p))
    pred.to_parquet(tmp_path / "pred.parquet")
    b1 = select_next(tmp_path / "pred.parquet", [], tmp_path / "b1.parquet", tmp_path / "c1", batch=40,
                     dw_threshold=0.5, qs_factor=None, tls_threshold=0.0015, chunk=20, min_hops=3, pair_files=files)
    got = p.merge(b1, on=C.IDS)
    assert len(got) == 40 and ((got[C.T_AB] + got[C.T_BA]) >= 3).all()
    # without the filter the same predictions choose never-hopping pairs only
    b2 = select_next(tmp_path / "pred.parquet", [], tmp_path / "b2.parquet", tmp_path / "c2", batch=40,
                     dw_threshold=0.5, qs_factor=None, tls_threshold=0.0015, chunk=20)
    assert (p.merge(b2, on=C.IDS)[[C.T_AB, C.T_BA]].sum(axis=1) == 0).all()


def test_predictions_cover_exactly_the_candidates(tmp_path):
    from tlspipe.loop.run import predict_round

    p = _pairs(120, seed=4)
    p[C.DELTA_E] = np.linspace(1e-4, 1e-2, len(p))
    p.loc[:59, [C.T_AB, C.T_BA]] = 0
    f = tmp_path / "pairs.parquet"
    p.to_parquet(f)
    models = {}
    for task in ("dw", "qs", "barrier"):  # fallback models: rank by delta_e
        (tmp_path / task).mkdir()
        (tmp_path / task / "fallback.json").write_text("{}")
        models[task] = tmp_path / task
    tf = {"g0": 0.092, "g1": 0.062}
    every = predict_round(models, [f], tf, tmp_path / "all.parquet")
    hop = predict_round(models, [f], tf, tmp_path / "hop.parquet", min_hops=2)
    assert len(every) == len(p)
    want = p[(p[C.T_AB] + p[C.T_BA]) >= 2]
    assert sorted(map(tuple, hop[C.IDS].to_numpy())) == sorted(map(tuple, want[C.IDS].to_numpy()))
    same = every.merge(hop, on=C.IDS, suffixes=("", "_hop"))
    assert np.array_equal(same[C.PRED_E_QS], same[C.PRED_E_QS + "_hop"])
