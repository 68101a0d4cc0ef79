"""loop.pretrain: the authors' tables and earlier studies' tls.parquet read as training rows, mapped right."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlspipe import columns as C
from tlspipe.loop.pretrain import read_pretraining

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "pretraining"
CLASSIFIER = DATA / "ciarella2023-classifier-T0062.parquet"
PREDICTOR = DATA / "ciarella2023-predictor-T0062.parquet"
FEATS = [c for c in C.feature_columns(3) if c not in (C.T_AB, C.T_BA)]


@pytest.fixture(scope="module")
def authors():
    return read_pretraining([CLASSIFIER, PREDICTOR], "paper", FEATS)


def test_the_authors_tables_give_one_row_per_pair(authors):
    cl, pr = pd.read_parquet(CLASSIFIER), pd.read_parquet(PREDICTOR)
    key = ["conf", "i", "j"]
    distinct = pd.concat([cl[key], pr[key]]).drop_duplicates()
    assert len(authors) == len(distinct)
    assert int(authors[C.E_QS].notna().sum()) == len(pr)  # every E_qs kept, once
    # a pair in both tables is a double well in both, and keeps the predictor's E_qs
    assert authors[C.E_QS].notna().sum() == authors.loc[authors[C.IS_DW] == 1, C.E_QS].notna().sum()
    assert authors[C.BARRIER].isna().all()
    assert authors[C.GLASS].str.startswith("pretrain:authors:").all()
    assert authors[C.GLASS].nunique() == distinct["conf"].nunique()


def test_the_authors_columns_map_onto_ours(authors):
    """One row checked value by value against the raw table (their names, README of data/pretraining)."""
    raw = pd.read_parquet(PREDICTOR).iloc[17]
    row = authors[np.isclose(authors[C.E_QS], raw["quantum_splitting"], rtol=0, atol=0)].iloc[0]
    assert row[C.GLASS] == f"pretrain:authors:{int(raw['conf'])}"
    for theirs, ours in [("displacement_0", "dr_1"), ("displacement_1", "dr_2"), ("displacement_2", "dr_3"),
                         ("Delta_E", C.DELTA_E), ("0to1", "dist_1_2"), ("0to2", "dist_1_3"),
                         ("total_displacement", C.D), ("PR", C.PR)]:
        assert row[ours] == raw[theirs], ours
    assert row[C.IS_DW] == 1


def test_a_model_of_the_authors_pairs_predicts_their_other_glasses(authors):
    """The mapped features and labels carry the double-well signal across glasses: a classifier trained on
    half of the glasses ranks the pairs of the other half far better than chance (AUC > 0.8; labels detached
    from their rows, e.g. by a misaligned merge of the two tables, give about 0.5)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    glasses = np.sort(authors[C.GLASS].unique())
    test = authors[C.GLASS].isin(glasses[::2])
    m = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, verbose=-1, n_jobs=1)
    m.fit(authors.loc[~test, FEATS], authors.loc[~test, C.IS_DW])
    auc = roc_auc_score(authors.loc[test, C.IS_DW], m.predict_proba(authors.loc[test, FEATS])[:, 1])
    assert auc > 0.8, auc


def test_their_e_qs_is_kept_only_on_the_paper_scale(caplog):
    with caplog.at_level(logging.WARNING, logger="tlspipe"):
        df = read_pretraining([PREDICTOR], "argon", FEATS)
    assert df[C.E_QS].isna().all() and (df[C.IS_DW] == 1).all()
    assert "paper" in caplog.text and str(PREDICTOR) in caplog.text


def _study_table(path, kelvin_per_eps):
    rng = np.random.default_rng(0)
    n = 6
    df = pd.DataFrame({c: rng.random(n) for c in C.feature_columns(3)})
    df[C.GLASS] = "tf0.092_g000"
    df[C.IS_A], df[C.IS_B] = np.arange(n), np.arange(n) + 1
    df[C.STATUS] = ["dw", "dw", "not_dw", "failed: end not a minimum", "dw", "not_dw"]
    df[C.E_QS] = [1e-3, 2e-3, np.nan, np.nan, 5e-3, np.nan]
    df[C.E_QS_K] = df[C.E_QS] * kelvin_per_eps
    df[C.BARRIER] = [0.01, 0.02, np.nan, np.nan, 0.05, np.nan]
    df.to_parquet(path)
    return df


def test_an_earlier_study_table_is_read_with_its_labels(tmp_path):
    src = _study_table(tmp_path / "tls.parquet", 479.2)
    df = read_pretraining([tmp_path / "tls.parquet"], "paper", FEATS)
    assert len(df) == 5  # the failed calculation is left out
    assert df[C.IS_DW].tolist() == [1, 1, 0, 1, 0]
    assert df[C.E_QS].tolist()[:2] == [1e-3, 2e-3]
    assert (df[C.GLASS] == "pretrain:tls:tf0.092_g000").all()  # never the study's own glass name
    np.testing.assert_array_equal(df[FEATS].to_numpy(), src.drop(index=3)[FEATS].to_numpy())


def test_an_earlier_study_in_other_units_gives_labels_only(tmp_path, caplog):
    _study_table(tmp_path / "tls.parquet", 119.8)
    with caplog.at_level(logging.WARNING, logger="tlspipe"):
        df = read_pretraining([tmp_path / "tls.parquet"], "paper", FEATS)
    assert df[C.E_QS].isna().all() and df[C.BARRIER].isna().all()
    assert df[C.IS_DW].sum() == 3
    assert "119.8" in caplog.text


def test_bad_pretraining_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="loop.pretrain.*nothere.parquet"):
        read_pretraining([tmp_path / "nothere.parquet"], "paper", FEATS)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="bad.parquet.*not a readable"):
        read_pretraining([bad], "paper", FEATS)
    short = tmp_path / "short.parquet"
    pd.read_parquet(PREDICTOR).drop(columns=["PR"]).to_parquet(short)
    with pytest.raises(ValueError, match=r"short.parquet lacks the feature column\(s\) \['pr'\]"):
        read_pretraining([short], "paper", FEATS)
    nolabel = tmp_path / "nolabel.parquet"
    pd.DataFrame({c: [0.1] for c in C.feature_columns(3)}).to_parquet(nolabel)
    with pytest.raises(ValueError, match="nolabel.parquet has neither"):
        read_pretraining([nolabel], "paper", FEATS)


def test_train_round_starts_from_the_pretraining_tables(tmp_path):
    """With no result of its own, a round trains the classifier and the E_qs model on the pretraining rows; the
    barrier model, which they cannot teach, falls back."""
    import json

    from tlspipe.learn import load
    from tlspipe.learn.rounds import train_round

    pairs = tmp_path / "pairs.parquet"
    _study_table(tmp_path / "t.parquet", 479.2)[[*C.IDS, *C.feature_columns(3)]].to_parquet(pairs)
    out = {t: tmp_path / t for t in ("dw", "qs", "barrier")}
    learn = {"members": ["lightgbm"], "n_folds": 2, "time_budget": 20, "dw_layers": 1, "regressor_layers": 1,
             "ensemble": "caruana", "exclude_features": [C.T_AB, C.T_BA]}
    s = train_round([pairs], [], out, learn=learn, seed=0, min_train_dw=8, pretrain=[CLASSIFIER, PREDICTOR],
                    units="paper")
    assert s["n_own"] == 0 and s["n_pretrain"] > 8000
    assert load(out["dw"]).features == FEATS and load(out["qs"]).features == FEATS
    assert json.loads((out["barrier"] / "fallback.json").read_text())["task"] == "barrier"
    with pytest.raises(ValueError, match="exclude_features.*'t_x'"):
        train_round([pairs], [], out, learn={**learn, "exclude_features": ["t_x"]}, seed=0, min_train_dw=8)
