"""The study's result tables, one function per Snakemake rule: ``tls.parquet`` (every pair computed exactly,
by either procedure, with its features, round, procedure, labels and the predictions made before it was
computed), ``tables/table1.csv`` and ``tables/table2.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from ..loop.run import read_exact, rows_of
from ..util.io import write_parquet as _write_parquet

PRED_DW, PRED_QS, PRED_BARRIER, TF = C.PRED_DW, C.PRED_E_QS, C.PRED_BARRIER, C.TF


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
