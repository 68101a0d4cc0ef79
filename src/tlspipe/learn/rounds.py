"""The learning steps of a round of the search, one function per Snakemake rule (``train``, ``predict``,
``shap``): models under ``loop/round_{i}/models/{dw,qs,barrier}/`` trained on every exact result of rounds
0..i (and on ``loop.pretrain``), the predictions ``loop/round_{i}/predictions/{glass}.parquet`` (IDS, tf,
pred_dw, pred_e_qs, pred_barrier) and ``loop/round_{i}/shap_{dw,qs}.parquet``."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from ..loop.run import read_exact, read_pairs, rows_of
from ..loop.select import seen_hopping
from ..util.io import write_parquet as _write_parquet

log = logging.getLogger("tlspipe.learn")

PRED_DW, PRED_QS, PRED_BARRIER, TF = C.PRED_DW, C.PRED_E_QS, C.PRED_BARRIER, C.TF


def training_table(pair_files, exact_files) -> pd.DataFrame:
    """Exact results joined with their features; failed calculations are left out."""
    exact = read_exact(exact_files)
    exact = exact[exact[C.STATUS].isin([C.STATUS_DW, C.STATUS_NOT_DW])]
    if len(exact) == 0:
        return exact
    feats = rows_of(pair_files, exact[C.IDS])  # the features of these pairs only, read a slice at a time
    keep = [c for c in exact.columns if c not in feats.columns or c in C.IDS]
    df = exact[keep].merge(feats, on=C.IDS, how="inner")
    df[C.IS_DW] = (df[C.STATUS] == C.STATUS_DW).astype(int)
    return df

def learn_config(learn: dict, task: str, seed: int, threads: int = 1) -> dict:
    """The tlspipe.learn config of one task from the study's ``learn`` section."""
    out = {"members": learn["members"], "n_folds": learn["n_folds"], "time_budget": learn["time_budget"],
           "n_threads": int(threads), "seed": seed, "ensemble": learn["ensemble"]}
    out["n_layers"] = learn["dw_layers"] if task == "dw" else learn["regressor_layers"]
    return out

def model_features(pair_files, exclude=()) -> list[str]:
    """The model inputs of a study: its pair tables' feature_columns(M) without ``learn.exclude_features``."""
    import pyarrow.parquet as pq

    from ..learn.tasks import default_features

    names = pq.read_schema(pair_files[0]).names
    feats = default_features(pd.DataFrame(columns=names))
    unknown = sorted(set(exclude) - set(feats))
    if unknown:
        raise ValueError(f"learn.exclude_features: {unknown} are not features of this study ({feats})")
    feats = [f for f in feats if f not in set(exclude)]
    if not feats:
        raise ValueError("learn.exclude_features leaves no feature to learn from")
    return feats

def train_round(pair_files, exact_files, out_dirs: dict, *, learn: dict, seed: int, min_train_dw: int,
                threads: int = 1, pretrain=(), units="paper") -> dict:
    """Train the DW classifier and the E_qs and barrier regressors on every exact result so far, and on the
    labelled tables of ``pretrain`` (loop.pretrain, see :mod:`tlspipe.loop.pretrain`).

    A task with too little data to learn from (one class only, or fewer than loop.min_train_dw double wells
    for the regressors) is written as a ``fallback.json`` instead of a model; prediction then ranks pairs by
    delta_e (E_qs >= delta_e for a two-level system, so small delta_e is necessary for a TLS).
    """
    from ..learn import save, train_task
    from ..loop.pretrain import read_pretraining

    feats = model_features(pair_files, learn.get("exclude_features", ()))
    df = training_table(pair_files, exact_files) if exact_files else pd.DataFrame()
    n_own = int(len(df))
    if pretrain:
        pre = read_pretraining(pretrain, units, feats)
        df = pd.concat([df, pre.drop(columns=["source"])], ignore_index=True) if len(df) else pre
    n_dw = int(df[C.IS_DW].sum()) if len(df) else 0
    summary = {"n_labelled": int(len(df)), "n_own": n_own, "n_pretrain": int(len(df)) - n_own, "n_dw": n_dw}
    for task, out in out_dirs.items():
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for f in out.iterdir():
            if f.is_file():
                f.unlink()
        if task == "dw":
            ok = len(df) >= 4 and 0 < n_dw < len(df)
        else:
            target = C.E_QS if task == "qs" else C.BARRIER
            ok = len(df) > 0 and int(((df[C.IS_DW] == 1) & np.isfinite(df[target].astype(float))).sum()) >= min_train_dw
        if not ok:
            (out / "fallback.json").write_text(json.dumps({"task": task, "reason": "too few labelled pairs",
                                                            **summary}))
            summary[task] = "fallback"
            log.info("%s: too little data (%s), fallback ranking", task, summary)
            continue
        t0 = time.perf_counter()
        data = df if task == "dw" else df[(df[C.IS_DW] == 1) & np.isfinite(df[target].astype(float))]
        model = train_task(data, task, learn_config(learn, task, seed, threads), features=feats)
        save(model, out)
        summary[task] = {"seconds": time.perf_counter() - t0, "weights": model.weights}
        cut = {k: v for k, v in (model.stack.fit_info_.get("bag_fits_stopped_by_time") or {}).items() if v}
        if cut:
            summary[task]["stopped_by_time"] = cut
            log.warning("%s: learn.time_budget (%s s) stopped %s before early stopping did: this model, and the "
                        "pairs it chooses, depend on this machine's speed and load; raise learn.time_budget for "
                        "a reproducible study", task, learn.get("time_budget"), cut)
        log.info("%s: trained on %d rows in %.1f s, weights %s", task, len(data), time.perf_counter() - t0,
                 model.weights)
    return summary

def _load_or_none(path):
    from ..learn import load

    path = Path(path)
    if (path / "fallback.json").exists():
        return None
    return load(path)

def predict_round(model_dirs: dict, pair_files, glass_tf: dict, out_file, threads: int = 1,
                  min_hops: int = 0) -> pd.DataFrame:
    """Predictions for every pair of every glass that can be a candidate (seen hopping ``min_hops`` times,
    loop.min_hops; every pair when 0): IDS, tf, pred_dw, pred_e_qs (epsilon), pred_barrier."""
    models = {t: _load_or_none(d) for t, d in model_dirs.items()}
    frames = []
    for f in pair_files:
        p = seen_hopping(pd.read_parquet(f), min_hops)
        if len(p) == 0:
            continue
        out = p[C.IDS].copy()
        out[TF] = out[C.GLASS].map(glass_tf).astype(float)
        m = models.get("dw")
        out[PRED_DW] = m.predict(p, n_threads=threads) if m is not None else 1.0
        for task, col in (("qs", PRED_QS), ("barrier", PRED_BARRIER)):
            m = models.get(task)
            out[col] = m.predict(p, n_threads=threads) if m is not None else p[C.DELTA_E].to_numpy()
        frames.append(out)
    if frames:
        df = pd.concat(frames, ignore_index=True)
    else:  # no candidate: no row, in the columns' types (a glass's table reads with the others')
        df = pd.DataFrame({C.GLASS: pd.Series(dtype="str"), C.IS_A: pd.Series(dtype="int64"),
                           C.IS_B: pd.Series(dtype="int64"),
                           **{c: pd.Series(dtype="float64") for c in (TF, PRED_DW, PRED_QS, PRED_BARRIER)}})
    _write_parquet(df, out_file)
    return df


def sample_rows(pair_files, max_rows: int, seed: int, columns=None) -> pd.DataFrame:
    """The rows :func:`tlspipe.learn.explain.shap_sample` draws from the concatenated pair tables
    (``read_pairs(pair_files).sample(n=min(max_rows, N), random_state=seed)``, in the drawn order, index
    0..n-1), without reading every pair.

    The positions are drawn exactly as pandas draws them (``numpy.random.RandomState(seed).choice(N, n,
    replace=False)`` over the N rows of all files in order, N from the files' Parquet metadata), so the
    sample is the same rows as before; only the row groups holding a drawn row are read, and only
    ``columns`` (all when None).  Memory: one row group of ``columns`` at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = list(pair_files)
    metas = [pq.ParquetFile(f).metadata for f in files]
    counts = np.array([m.num_rows for m in metas], dtype=np.int64)
    n_total = int(counts.sum())
    if n_total == 0:
        return read_pairs(files[:1], columns=columns).iloc[:0]
    n = min(int(max_rows), n_total)
    pos = np.random.RandomState(seed).choice(n_total, size=n, replace=False).astype(np.intp, copy=False)
    file_start = np.concatenate([[0], np.cumsum(counts)])
    pieces, order = [], []
    for k, f in enumerate(files):
        sel = np.flatnonzero((pos >= file_start[k]) & (pos < file_start[k + 1]))
        if len(sel) == 0:
            continue
        local = pos[sel] - file_start[k]
        rg_rows = np.array([metas[k].row_group(i).num_rows for i in range(metas[k].num_row_groups)], dtype=np.int64)
        rg_start = np.concatenate([[0], np.cumsum(rg_rows)])
        rg_of = np.searchsorted(rg_start, local, side="right") - 1
        with pq.ParquetFile(f) as pf:
            for rg in np.unique(rg_of):
                in_rg = rg_of == rg
                t = pf.read_row_group(int(rg), columns=columns)
                pieces.append(t.take(pa.array(local[in_rg] - rg_start[rg])))
                order.append(sel[in_rg])
    table = pa.concat_tables(pieces)
    df = table.to_pandas()
    # back to the drawn order
    inv = np.empty(n, dtype=np.intp)
    inv[np.concatenate(order)] = np.arange(n)
    return df.iloc[inv].reset_index(drop=True)


def shap_round(model_dir, pair_files, out_file, seed: int, max_rows: int = 200) -> pd.DataFrame:
    """SHAP values of a model on a sample of pairs: one column per feature, feature values as value_*.

    The sample is :func:`sample_rows` (the rows ``shap_sample`` draws from all pairs, read alone: the
    model's feature columns of the row groups that hold them, not every pair)."""
    from ..learn import shap_values

    model = _load_or_none(model_dir)
    if model is None:
        df = pd.DataFrame()
    else:
        sample = sample_rows(pair_files, max_rows, seed, columns=list(model.features))
        if len(sample) == 0:
            df = pd.DataFrame()
        else:
            sv = shap_values(model, sample)
            df = sv.reset_index(drop=True)
            for c in model.features:
                df[f"value_{c}"] = sample[c].to_numpy()
    _write_parquet(df, out_file)
    return df
