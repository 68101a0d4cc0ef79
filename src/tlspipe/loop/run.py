"""The steps of the iterative search, one function per Snakemake rule (the rule scripts are one call each).

Files of round i under ``results/{study}/loop/round_{i}/``: ``batch.parquet`` (pairs to compute),
``chunks/{glass}.{c}.parquet`` (the batch split for parallel NEB jobs), ``exact/{glass}.{c}.parquet`` and
``exact.parquet`` (their exact results), ``models/{dw,qs,barrier}/`` (trained on every exact result of
rounds 0..i), ``predictions/{glass}.parquet`` (every pair: pred_dw, pred_e_qs, pred_barrier; one job per
glass), ``shap_{dw,qs}.parquet``.
The standard procedure uses ``results/{study}/baseline/`` with the same batch/chunks/exact layout.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from ..util.io import atomic_path
from .select import (baseline_batch, batch_candidates, first_rows, initial_batch, key_mask, next_batch,
                     pair_codes, seen_hopping, split_chunks)

log = logging.getLogger("tlspipe.loop")

PRED_DW, PRED_QS, PRED_BARRIER, TF = C.PRED_DW, C.PRED_E_QS, C.PRED_BARRIER, C.TF


def _write_parquet(df: pd.DataFrame, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def read_pairs(pair_files, columns=None) -> pd.DataFrame:
    frames = [pd.read_parquet(f, columns=columns) for f in pair_files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.read_parquet(pair_files[0], columns=columns)
    return pd.concat(frames, ignore_index=True)


#: rows read at a time when a step streams the pair or prediction tables of a study (memory ~ this, not the
#: study: 10^8 pairs at the paper's scale)
STREAM_ROWS = 1 << 20


def iter_tables(files, columns=None, batch_size: int | None = None):
    """The rows of Parquet files, ``batch_size`` (:data:`STREAM_ROWS`) at a time, as DataFrames of
    ``columns`` (all when None)."""
    import pyarrow.parquet as pq

    for f in [files] if isinstance(files, (str, Path)) else files:
        with pq.ParquetFile(f) as pf:
            for rb in pf.iter_batches(batch_size=batch_size or STREAM_ROWS, columns=columns):
                if rb.num_rows:
                    yield rb.to_pandas()


def rows_of(files, keys: pd.DataFrame, columns=None) -> pd.DataFrame:
    """The rows of the tables in ``files`` whose (glass, is_a, is_b) is in ``keys``, streamed: a slice of
    STREAM_ROWS rows is tested on its ids and only its rows in keys become a DataFrame (a table's columns
    and dtypes also when no row is)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [files] if isinstance(files, (str, Path)) else list(files)
    wanted = {}
    for g, pos in keys.groupby(C.GLASS, sort=False).indices.items():
        wanted[g] = pair_codes(keys[C.IS_A].to_numpy()[pos], keys[C.IS_B].to_numpy()[pos])
    frames = []
    for f in files if wanted else []:
        with pq.ParquetFile(f, read_dictionary=[C.GLASS]) as pf:
            for rb in pf.iter_batches(batch_size=STREAM_ROWS, columns=columns):
                glass = rb.column(C.GLASS)
                names = glass.dictionary.to_pylist()
                code = pair_codes(rb.column(C.IS_A).to_numpy(), rb.column(C.IS_B).to_numpy())
                if code is None or any(wanted.get(g, 0) is None for g in names):  # not as codes: by keys
                    t = pa.Table.from_batches([rb])
                    frame = t.set_column(t.schema.get_field_index(C.GLASS), C.GLASS,
                                         t[C.GLASS].cast(pa.string())).to_pandas()
                    frames.append(frame[key_mask(frame, keys)])
                    continue
                mask = np.zeros(rb.num_rows, dtype=bool)
                index = glass.indices.to_numpy(zero_copy_only=False) if len(names) > 1 else None
                for j, g in enumerate(names):
                    if g in wanted:
                        sel = slice(None) if index is None else index == j
                        mask[sel] = np.isin(code[sel], wanted[g])
                if mask.any():
                    t = pa.Table.from_batches([rb]).filter(pa.array(mask))
                    t = t.set_column(t.schema.get_field_index(C.GLASS), C.GLASS, t[C.GLASS].cast(pa.string()))
                    frames.append(t.to_pandas())
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _first_table(files, columns)


def _first_table(files, columns=None) -> pd.DataFrame:
    """No row, with the columns and dtypes of the first of ``files``."""
    import pyarrow.parquet as pq

    first = files if isinstance(files, (str, Path)) else next(iter(files))
    empty = pq.read_schema(first).empty_table()
    return (empty.select(columns) if columns is not None else empty).to_pandas()


def read_exact(files) -> pd.DataFrame:
    frames = [pd.read_parquet(f) for f in files if Path(f).exists()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return C.empty_exact()
    return pd.concat(frames, ignore_index=True)


def write_batch(batch: pd.DataFrame, out_batch, chunk_dir, chunk_size: int) -> int:
    """The batch and its chunks (one file per chunk, named {glass}.{c:03d}.parquet).  Returns #chunks."""
    chunk_dir = Path(chunk_dir)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    chunks = split_chunks(batch, chunk_size)
    counters: dict[str, int] = {}
    for ch in chunks:
        g = ch[C.GLASS].iloc[0]
        c = counters.get(g, 0)
        counters[g] = c + 1
        _write_parquet(ch, chunk_dir / f"{g}.{c:03d}.parquet")
    _write_parquet(batch, out_batch)
    return len(chunks)


def chunk_names(chunk_dir) -> list[str]:
    """The chunk stems ({glass}.{c:03d}) a batch was split into."""
    return sorted(p.name[: -len(".parquet")] for p in Path(chunk_dir).glob("*.parquet"))


# ----------------------------------------------------------------------------- batches
def _hopping_keys(pair_files, min_hops: int) -> pd.DataFrame:
    """IDS of the pairs seen hopping min_hops times (a small share of a study's pairs), streamed."""
    frames = [seen_hopping(f, min_hops)[C.IDS] for f in iter_tables(pair_files, [*C.IDS, C.T_AB, C.T_BA])]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=C.IDS)


def select_initial(pair_files, out_batch, chunk_dir, *, k0: int, screen_fraction: float, seed: int,
                   chunk: int, min_hops: int = 0) -> pd.DataFrame:
    """Round 0 (loop.k0, loop.screen_fraction, seed) among the pairs seen hopping loop.min_hops times,
    split into NEB jobs of ``chunk`` pairs.

    The pairs are read a slice at a time, twice: the first pass counts the candidates and keeps the
    screening's smallest-d pairs of each slice, the second takes the uniform sample's pairs by position.
    The batch is :func:`initial_batch` of all candidates in one table (same seed, same draw)."""
    cols = [*C.IDS, C.D, C.T_AB, C.T_BA]
    m = int(round(screen_fraction * int(k0)))  # the most pairs the screening can take
    n, parts = 0, []
    n_kept = 0
    for f in iter_tables(pair_files, cols):
        f = seen_hopping(f, min_hops)
        n += len(f)
        new = [g.iloc[first_rows(g[C.D].to_numpy(float), g[C.IS_A], g[C.IS_B], m)] for _, g in
               f.groupby(C.GLASS, sort=False)]
        parts += new
        n_kept += sum(len(p) for p in new)
        if n_kept > max(4 * m, STREAM_ROWS // 4):  # keep the running candidates small: the m first of all
            parts = [pd.concat(parts, ignore_index=True).sort_values([C.D, *C.IDS], kind="stable").iloc[:m]]
            n_kept = len(parts[0])
    if n == 0:
        batch = initial_batch(_first_table(pair_files, cols), k0, seed=seed, screen_fraction=screen_fraction)
    else:
        # initial_batch, step by step, on the n candidates
        k0 = min(int(k0), n)
        n_screen = int(round(screen_fraction * k0))
        screened = pd.concat(parts, ignore_index=True).sort_values([C.D, *C.IDS], kind="stable").iloc[:n_screen]
        rng = np.random.default_rng(seed)
        n_rest = n - n_screen  # keys are unique: checked below
        pick = np.sort(rng.choice(n_rest, size=min(k0 - n_screen, n_rest), replace=False))
        sample, start = [], 0
        for f in iter_tables(pair_files, cols):
            f = seen_hopping(f, min_hops)
            rest = f[~key_mask(f, screened)]  # exclude_done(f, screened)
            lo, hi = np.searchsorted(pick, [start, start + len(rest)])
            sample.append(rest.iloc[pick[lo:hi] - start][C.IDS])
            start += len(rest)
        if start != n_rest:
            raise ValueError(f"pair tables {list(pair_files)[:3]}...: a pair appears twice (glass, is_a, is_b)")
        batch = pd.concat([screened[C.IDS], *sample], ignore_index=True)
        batch = batch.sort_values(C.IDS, kind="stable").reset_index(drop=True)
    nch = write_batch(batch, out_batch, chunk_dir, chunk)
    log.info("round 0: %d of %d pairs selected (%d chunks)", len(batch), n, nch)
    return batch


def select_next(predictions, done_files, out_batch, chunk_dir, *, batch: int, dw_threshold: float,
                qs_factor: float | None, tls_threshold: float, chunk: int, min_hops: int = 0,
                pair_files=()) -> pd.DataFrame:
    """A later round (loop.batch, loop.dw_threshold, loop.qs_factor, tls_threshold) among the pairs seen
    hopping loop.min_hops times (their T_ab, T_ba read from ``pair_files``), in NEB jobs of ``chunk``.

    predictions: the round's prediction tables (one per glass, or one file).  They are read a slice at a
    time and only each slice's :func:`batch_candidates` are kept, so memory holds a slice and ~2 batches per
    glass, not the study's predictions; the batch is :func:`next_batch` of the whole table."""
    hop = None
    if min_hops > 0:
        if not pair_files:
            raise ValueError("loop.min_hops needs the pair tables (their T_ab, T_ba)")
        hop = _hopping_keys(pair_files, min_hops)
    done = read_exact(done_files)[C.IDS]
    opts = dict(dw_threshold=dw_threshold, qs_factor=qs_factor, tls_threshold=tls_threshold)
    parts, n_kept, n_cand = [], 0, 0
    for f in iter_tables(predictions, [*C.IDS, PRED_DW, PRED_QS]):
        if hop is not None:
            f = f[key_mask(f, hop)]
        n_cand += len(f)
        parts.append(batch_candidates(f, done, batch, **opts))
        n_kept += len(parts[-1])
        if n_kept > max(4 * batch, STREAM_ROWS // 4):  # keep the running candidates small
            parts = [batch_candidates(pd.concat(parts, ignore_index=True), None, batch, **opts)]
            n_kept = len(parts[0])
    if min_hops > 0:
        log.info("%d pairs seen hopping >= %d times are candidates", n_cand, min_hops)
    pred = pd.concat(parts, ignore_index=True) if parts else _first_table(predictions, [*C.IDS, PRED_DW, PRED_QS])
    selected = next_batch(pred, done, batch, dw_threshold, qs_factor, tls_threshold)
    n = write_batch(selected, out_batch, chunk_dir, chunk)
    log.info("next batch: %d pairs (%d chunks), %d already computed", len(selected), n, len(done))
    return selected


def select_baseline(pair_files, out_batch, chunk_dir, *, min_transitions: int, chunk: int) -> pd.DataFrame:
    """The standard procedure (baseline.min_transitions), in NEB jobs of ``chunk`` pairs (the pair tables
    read a slice at a time)."""
    cols = [*C.IDS, C.T_AB, C.T_BA]
    frames = [baseline_batch(f, min_transitions) for f in iter_tables(pair_files, cols)]
    if frames:  # baseline_batch of all pairs: each slice's, sorted
        batch = pd.concat(frames, ignore_index=True).sort_values(C.IDS, kind="stable").reset_index(drop=True)
    else:
        batch = baseline_batch(_first_table(pair_files, cols), min_transitions)
    n = write_batch(batch, out_batch, chunk_dir, chunk)
    log.info("standard procedure: %d pairs with min(T_ab, T_ba) >= %d (%d chunks)", len(batch),
             min_transitions, n)
    return batch


# ----------------------------------------------------------------------------- exact path
def neb_options(cfg) -> dict:
    """The NEB/profile options of the config, as the path module takes them."""
    opts = {k: v for k, v in cfg["neb"].items() if k != "chunk"}
    opts["units"] = cfg["units"]
    opts["tls_threshold"] = cfg["tls_threshold"]
    return opts


def run_chunk(options: dict, store, chunk_file, out_file, partial_file=None) -> pd.DataFrame:
    """Exact results of one chunk (options: :func:`neb_options` of the study).  Finished pairs are appended
    to ``partial_file`` as they complete (it is not a Snakemake output, so it survives a killed job) and the
    output is written when all are done.  The profiles V(xi) go to ``<out>.profiles.h5`` beside the output."""
    from ..path import run_pairs

    pairs = pd.read_parquet(chunk_file)
    partial = Path(partial_file) if partial_file else Path(str(out_file) + ".partial.parquet")
    t0 = time.perf_counter()
    profiles = Path(out_file).with_suffix(".profiles.h5")  # V(xi) of every pair, for figures
    res = run_pairs(store, pairs[[C.IS_A, C.IS_B]], partial, options, profiles_path=profiles)
    res = res.copy()
    res[C.GLASS] = pairs[C.GLASS].iloc[0] if len(pairs) else ""
    res = res[C.IDS + [c for c in res.columns if c not in C.IDS]]
    _write_parquet(res, out_file)
    partial.unlink(missing_ok=True)
    log.info("chunk %s: %d pairs in %.1f s (%s)", Path(chunk_file).name, len(res), time.perf_counter() - t0,
             res[C.STATUS].value_counts().to_dict() if len(res) else {})
    return res


def gather_exact(files, out_file, round_index=None) -> pd.DataFrame:
    df = read_exact(files)
    if round_index is not None:
        df[C.ROUND] = int(round_index)
    _write_parquet(df, out_file)
    return df


# ----------------------------------------------------------------------------- learning
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
    from .pretrain import read_pretraining

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


def shap_round(model_dir, pair_files, out_file, seed: int, max_rows: int = 200) -> pd.DataFrame:
    """SHAP values of a model on a sample of pairs: one column per feature, feature values as value_*."""
    from ..learn import shap_values

    model = _load_or_none(model_dir)
    pairs = read_pairs(pair_files)
    if model is None or len(pairs) == 0:
        df = pd.DataFrame()
    else:
        sample = pairs.sample(n=min(max_rows, len(pairs)), random_state=seed)
        sv = shap_values(model, sample)
        df = sv.reset_index(drop=True)
        for c in model.features:
            df[f"value_{c}"] = sample[c].to_numpy()
    _write_parquet(df, out_file)
    return df


# ----------------------------------------------------------------------------- results
def build_tls_table(loop_exact_files, baseline_exact_file, pair_files, predictions_by_round, glass_tf,
                    out_file, tls_threshold: float) -> pd.DataFrame:
    """Every pair computed exactly, by either procedure, with its features, round, procedure and labels.

    predictions_by_round: per round, its prediction table or tables (one per glass).  The pair and prediction
    tables are read a slice at a time, keeping the rows of computed pairs only.

    pred_dw / pred_e_qs / pred_barrier: for a pair computed in round r >= 1, the prediction of the models of
    round r - 1, made before the pair was computed (``pred_in_sample`` False); for round-0 and
    standard-procedure pairs, the last models' prediction (in sample when the pair was in their training).
    """
    loop = read_exact(loop_exact_files)
    if C.ROUND not in loop:
        loop[C.ROUND] = pd.Series(dtype="int64")
    base = read_exact([baseline_exact_file])
    empty = pd.MultiIndex.from_tuples([], names=C.IDS)
    loop_keys = pd.MultiIndex.from_frame(loop[C.IDS]) if len(loop) else empty
    base_keys = pd.MultiIndex.from_frame(base[C.IDS]) if len(base) else empty
    loop = loop.assign(**{C.PROCEDURE: np.where(loop_keys.isin(base_keys), "both", "iterative")})
    base_only = base[~base_keys.isin(loop_keys)].assign(**{C.PROCEDURE: "standard", C.ROUND: -1})
    df = pd.concat([loop, base_only], ignore_index=True)
    feats = rows_of(pair_files, df[C.IDS])  # the features of these pairs only, read a slice at a time
    dup = [c for c in feats.columns if c in df.columns and c not in C.IDS]
    df = df.merge(feats.drop(columns=dup), on=C.IDS, how="left")
    df[TF] = df[C.GLASS].map(glass_tf).astype(float)
    df[C.IS_DW] = df[C.STATUS] == C.STATUS_DW
    df[C.IS_TLS] = df[C.IS_DW] & (df[C.E_QS] < tls_threshold)
    df[C.ROUND] = df[C.ROUND].astype("int64")
    pcols = [PRED_DW, PRED_QS, PRED_BARRIER]
    for c in pcols:
        df[c] = np.nan
    df["pred_in_sample"] = True
    # each round's predictions of these pairs (a round's tables hold every pair of the study)
    preds = [rows_of(f, df[C.IDS], [*C.IDS, *pcols]) for f in predictions_by_round]
    for r in range(len(df) and len(preds) + 1):
        if r == 0:
            sel = (df[C.ROUND] <= 0).to_numpy()
            src = preds[-1] if preds else None
        else:
            sel = (df[C.ROUND] == r).to_numpy()
            src = preds[r - 1] if r - 1 < len(preds) else None
        if src is None or not sel.any():
            continue
        m = df.loc[sel, C.IDS].merge(src, on=C.IDS, how="left")
        for c in pcols:
            df.loc[sel, c] = m[c].to_numpy()
        df.loc[sel, "pred_in_sample"] = r == 0
    _write_parquet(df, out_file)
    return df


def write_table1(tls_file, out_csv, min_transitions: int | None = None,
                 pretrain_round: int | None = 0) -> pd.DataFrame:
    """Table I of the study (see :func:`tlspipe.figures.tables.table1`); min_transitions: the standard
    procedure's filter, to count the TLS the loop found outside it; pretrain_round: the round that was a
    random training sample (None when the study pretrains: every round is chosen by models)."""
    from ..figures import table1

    t = table1(pd.read_parquet(tls_file), min_transitions=min_transitions, pretrain_round=pretrain_round)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    t.to_csv(out_csv, index=False)
    return t


def write_table2(benchmark_dir, benchmark_files, tls_file, pair_files, round_files, out_csv) -> pd.DataFrame:
    """Table II of the study (see :func:`tlspipe.figures.tables.table2`) from the given benchmark files, with
    the counts that turn times into times per glass, pair, exact calculation, round and predicted pair, and
    the TLS of tls_file for the total CPU time's TLS per CPU-hour."""
    import pyarrow.parquet as pq

    from ..figures import table2
    from ..figures.tables import n_exact_calculations

    tls = pd.read_parquet(tls_file)
    n_pairs = sum(pq.ParquetFile(f).metadata.num_rows for f in pair_files)
    n_rounds = len(round_files)
    t = table2(benchmark_dir, n_glasses=len(pair_files), n_pairs=n_pairs, n_exact=n_exact_calculations(tls),
               n_rounds=n_rounds, n_predicted=n_pairs * n_rounds, files=benchmark_files, tls=tls)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    t.to_csv(out_csv, index=False)
    return t
