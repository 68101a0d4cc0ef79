"""Batch selection without repeats, the stop rule, and the standard procedure's filter."""

import numpy as np
import pandas as pd
import pytest

from tlspipe import columns as C
from tlspipe.loop import baseline_batch, initial_batch, next_batch, should_stop, split_chunks
from tlspipe.loop.select import seen_hopping


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
    from tlspipe.learn.rounds import predict_round

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


# ----------------------------------------------------------------------------- streamed selection
# The batch steps read a study's tables a slice at a time (10^8 pairs at the paper's scale); they must choose
# exactly what the selection functions choose on the whole tables, read at once (the reference below).
def _study(tmp_path, seed, n_glass=3, n=400):
    """Pair and per-glass prediction tables with many ties (rounded predictions, pred_dw 1.0 as a fallback
    model gives, repeated d) and pairs never seen hopping."""
    rng = np.random.default_rng(seed)
    pairs, preds, pair_files, pred_files = [], [], [], []
    for g in range(n_glass):
        name = f"tf0.092_g{g:03d}"
        p = pd.DataFrame({C.GLASS: name, C.IS_A: rng.permutation(n), C.IS_B: rng.permutation(n) + n,
                          C.D: rng.choice([0.1, 0.2, 0.3, 0.5, 1.0], n), C.T_AB: rng.integers(0, 3, n),
                          C.T_BA: rng.integers(0, 3, n), C.DELTA_E: rng.uniform(0, 0.01, n)})
        p[C.T_AB] *= rng.random(n) < 0.5
        pr = p[C.IDS].assign(**{C.PRED_DW: np.round(rng.uniform(0.3, 1.0, n), 1),
                                C.PRED_E_QS: np.round(rng.lognormal(-6, 0.5, n), 4)})
        if g == 1:
            pr[C.PRED_DW] = 1.0  # a fallback classifier: every pair tied
        pr.loc[rng.random(n) < 0.05, C.PRED_E_QS] = np.nan
        pair_files.append(tmp_path / f"pairs_{name}.parquet")
        pred_files.append(tmp_path / f"pred_{name}.parquet")
        p.to_parquet(pair_files[-1], index=False)
        pr.to_parquet(pred_files[-1], index=False)
        pairs.append(p)
        preds.append(pr)
    return pd.concat(pairs, ignore_index=True), pd.concat(preds, ignore_index=True), pair_files, pred_files


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_hops", [0, 1, 3])
def test_streamed_batches_are_the_batches_of_the_whole_tables(tmp_path, monkeypatch, seed, min_hops):
    from tlspipe.loop import run

    pairs, pred, pair_files, pred_files = _study(tmp_path, seed)
    hop = seen_hopping(pairs, min_hops)
    rng = np.random.default_rng(seed + 10)
    done = pred.iloc[rng.choice(len(pred), 50, replace=False)][C.IDS].assign(**{C.STATUS: "dw", C.E_QS: 1e-3})
    done.to_parquet(tmp_path / "done.parquet", index=False)
    for rows in (37, 10**6):  # slices smaller than a glass, and whole files
        monkeypatch.setattr(run, "STREAM_ROWS", rows)
        for k, qs_factor in ((15, None), (60, 3.0), (2000, None)):
            got = run.select_next(pred_files, [tmp_path / "done.parquet"], tmp_path / "b.parquet", tmp_path / "c",
                                  batch=k, dw_threshold=0.5, qs_factor=qs_factor, tls_threshold=0.0015, chunk=20,
                                  min_hops=min_hops, pair_files=pair_files)
            cand = pred.merge(hop[C.IDS], on=C.IDS, how="inner") if min_hops else pred
            want = next_batch(cand, done[C.IDS], k, 0.5, qs_factor, 0.0015)
            pd.testing.assert_frame_equal(got, want)
        got = run.select_initial(pair_files, tmp_path / "b0.parquet", tmp_path / "c0", k0=40, screen_fraction=0.5,
                                 seed=seed, chunk=20, min_hops=min_hops)
        pd.testing.assert_frame_equal(got, initial_batch(hop, 40, seed=seed, screen_fraction=0.5))
        got = run.select_baseline(pair_files, tmp_path / "bb.parquet", tmp_path / "cb", min_transitions=1, chunk=20)
        pd.testing.assert_frame_equal(got, baseline_batch(pairs, 1))


def test_batch_candidates_keep_what_next_batch_chooses():
    from tlspipe.loop.select import batch_candidates, first_rows

    key = np.array([3.0, 1.0, np.nan, 1.0, 2.0, 1.0, np.nan])
    a, b = np.array([0, 5, 1, 2, 9, 2, 0]), np.array([0, 0, 0, 0, 0, 1, 1])
    assert list(first_rows(key, a, b, 2)) == [3, 5]  # ties at 1.0 by (is_a, is_b)
    assert list(first_rows(key, a, b, 6)) == [0, 1, 3, 4, 5, 6]  # NaN last, (0, 1) before (1, 0)
    p = _pairs(300, seed=5)
    pred = p[C.IDS].assign(pred_dw=np.round(np.random.default_rng(6).uniform(0, 1, len(p)), 1),
                           pred_e_qs=np.round(np.random.default_rng(7).lognormal(-5, 1, len(p)), 3))
    for k in (1, 10, 100, 400):
        parts = [batch_candidates(pred.iloc[s : s + 43], None, k) for s in range(0, len(pred), 43)]
        assert next_batch(pd.concat(parts), pred.iloc[:0], k).equals(next_batch(pred, pred.iloc[:0], k))


def test_streamed_tls_table_and_training_table_are_the_joins_of_the_whole_tables(tmp_path, monkeypatch):
    """tls.parquet and the training table take each computed pair's features (and each round's prediction
    of it) from the tables read a slice at a time: the same rows as joined with the whole tables."""
    from tlspipe.figures import results
    from tlspipe.learn import rounds
    from tlspipe.loop import run

    pairs, _, pair_files, _ = _study(tmp_path, 4)
    rng = np.random.default_rng(5)
    preds, exact_files = [], []
    for r in range(3):  # three rounds, each predicting every pair, one file per glass
        pr = pairs[C.IDS].assign(**{C.PRED_DW: rng.random(len(pairs)), C.PRED_E_QS: rng.random(len(pairs)),
                                    C.PRED_BARRIER: rng.random(len(pairs))})
        files = []
        for g, sub in pr.groupby(C.GLASS):
            files.append(tmp_path / f"pred_{r}_{g}.parquet")
            sub.to_parquet(files[-1], index=False)
        preds.append((pr, files))
    computed = pairs.sample(60, random_state=6)[C.IDS].reset_index(drop=True)
    status = np.where(rng.random(60) < 0.5, C.STATUS_DW, C.STATUS_NOT_DW)
    exact = computed.assign(**{C.STATUS: status, C.E_QS: rng.uniform(0, 0.003, 60), C.DELTA_E: 9.0})
    for r in range(3):
        exact_files.append(tmp_path / f"exact_{r}.parquet")
        exact.iloc[20 * r : 20 * r + 20].assign(**{C.ROUND: r}).to_parquet(exact_files[-1], index=False)
    base = pairs.sample(30, random_state=7)[C.IDS].assign(**{C.STATUS: C.STATUS_DW, C.E_QS: 1e-3})
    base = pd.concat([base, exact.iloc[:5].drop(columns=C.DELTA_E)], ignore_index=True)  # 5 pairs by both
    base.to_parquet(tmp_path / "base.parquet", index=False)
    tf = {g: 0.092 for g in pairs[C.GLASS].unique()}

    tables = {}
    for rows in (13, 10**6):
        monkeypatch.setattr(run, "STREAM_ROWS", rows)
        tables[rows] = results.build_tls_table(exact_files, tmp_path / "base.parquet", pair_files,
                                               [files for _, files in preds], tf, tmp_path / "tls.parquet", 0.0015)
        train = rounds.training_table(pair_files, exact_files)
        want = pd.concat([pd.read_parquet(f) for f in exact_files], ignore_index=True)
        want = want.drop(columns=C.DELTA_E).merge(pairs, on=C.IDS)
        pd.testing.assert_frame_equal(train.drop(columns=C.IS_DW), want)
    t = tables[13]
    pd.testing.assert_frame_equal(t, tables[10**6])
    assert len(t) == len(set(map(tuple, pd.concat([computed, base[C.IDS]]).to_numpy()))) == len(t.drop_duplicates(C.IDS))
    feats = [c for c in pairs.columns if c not in C.IDS and c != C.DELTA_E]
    pd.testing.assert_frame_equal(t[C.IDS + feats], t[C.IDS].merge(pairs, on=C.IDS, how="left")[C.IDS + feats])
    for r in range(3):  # a pair of round r >= 1: round r - 1's prediction; others the last round's
        sel = t[C.ROUND] == r if r else t[C.ROUND] <= 0
        src = preds[r - 1 if r else -1][0]
        want = t.loc[sel, C.IDS].merge(src, on=C.IDS, how="left")
        assert np.array_equal(t.loc[sel, C.PRED_E_QS].to_numpy(), want[C.PRED_E_QS].to_numpy())


@pytest.mark.parametrize("big", [False, True])
def test_rows_of_is_the_join_with_the_keys(tmp_path, monkeypatch, big):
    """Several glasses in one file, a key of a glass no file has, ids beyond 2**31 (tested as keys)."""
    from tlspipe.loop import run

    p = _pairs(500, seed=8).assign(**{C.IS_B: lambda d: d[C.IS_B] + (2**40 if big else 0)})
    p.iloc[:250].to_parquet(tmp_path / "a.parquet", index=False)
    p.iloc[250:].to_parquet(tmp_path / "b.parquet", index=False)
    keys = pd.concat([p.sample(40, random_state=9)[C.IDS], pd.DataFrame({C.GLASS: ["g9"], C.IS_A: [1], C.IS_B: [2]})])
    monkeypatch.setattr(run, "STREAM_ROWS", 64)
    got = run.rows_of([tmp_path / "a.parquet", tmp_path / "b.parquet"], keys)
    want = p.merge(keys, on=C.IDS).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.sort_values(C.IDS).reset_index(drop=True),
                                  want.sort_values(C.IDS).reset_index(drop=True))
    assert len(run.rows_of(tmp_path / "a.parquet", keys.iloc[:0], [C.GLASS, C.D])) == 0
