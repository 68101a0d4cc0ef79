"""The loop's own steps, one function per Snakemake rule (``batch``, ``baseline_batch``, ``gather``; the rule
scripts are one call each), and the streamed readers of the study's tables they share with the learning
(:mod:`tlspipe.learn.rounds`) and results (:mod:`tlspipe.figures.results`) steps.  The NEB jobs are
:mod:`tlspipe.path.chunk`.

Files of round i under ``results/{study}/loop/round_{i}/``: ``batch.parquet`` (pairs to compute),
``chunks/{glass}.{c}.parquet`` (the batch split for parallel NEB jobs), ``exact/{glass}.{c}.parquet`` and
``exact.parquet`` (their exact results), ``models/{dw,qs,barrier}/`` (trained on every exact result of
rounds 0..i), ``predictions/{glass}.parquet`` (every pair: pred_dw, pred_e_qs, pred_barrier; one job per
glass), ``shap_{dw,qs}.parquet``.
The standard procedure uses ``results/{study}/baseline/`` with the same batch/chunks/exact layout.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from ..util.io import write_parquet as _write_parquet
from .select import (baseline_batch, batch_candidates, first_rows, initial_batch, key_mask, next_batch,
                     pair_codes, seen_hopping, split_chunks)

log = logging.getLogger("tlspipe.loop")

PRED_DW, PRED_QS, PRED_BARRIER, TF = C.PRED_DW, C.PRED_E_QS, C.PRED_BARRIER, C.TF


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


# ----------------------------------------------------------------------------- exact results of a stage
def gather_exact(files, out_file, round_index=None) -> pd.DataFrame:
    df = read_exact(files)
    if round_index is not None:
        df[C.ROUND] = int(round_index)
    _write_parquet(df, out_file)
    return df

