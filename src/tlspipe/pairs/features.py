"""Features of every pair of inherent structures (IS) of one glass, streamed to Parquet.

Definitions (the authors' features, checked against their stored rows in tests/test_pairs.py).  For IS alpha, beta of one glass, ordered by energy (``is_a`` the lower,
``is_b`` the higher; ids are store indices; equal energies: the lower store index is ``is_a``):

* ``delta_e``  = N (e_b - e_a), total energy difference in epsilon (e: energy per particle);
* ``dr_1..dr_M`` the M largest minimum-image single-particle displacements |dr_i| (sigma), descending;
  ties keep the lower particle index first; dr_i are taken with the pair's global translation removed
  (their mean, :func:`tlspipe.util.periodic.translation`), so that a rigidly translated copy of an IS is at
  d = 0 from it.  Between two IS of one exploration the mean is ~0 (the dynamics and the minimiser do not
  move the centre of mass) and the features are the authors' as they were;
* ``d``  = sqrt(sum_i |dr_i|^2) over all particles (sigma);
* ``pr`` = d^4 / sum_i |dr_i|^4, participation ratio (number of particles);
* ``dist_1_2..dist_1_M`` minimum-image distances (sigma) from the midpoint of the most displaced particle
  to the midpoints of particles 2..M (midpoint = a's position + dr/2);
* ``t_ab`` / ``t_ba`` observed transitions lower -> higher / higher -> lower (store counts src -> dst).

Only pairs with delta_e <= ``max_delta_e`` are kept (the authors skipped delta_e > 1 epsilon).

Decisions where the definition is silent: a pair with no displacement at all (no particle moved more than
1e-9 sigma) gets pr = 0; when the k-th most displaced particle did not move (dr_k <= 1e-9 sigma) its
dist_1_k is 0.  Rows are written in blocked
energy order, not sorted by id: sort by (is_a, is_b) if you need an order.

Memory: positions are read from HDF5 a block of IS at a time and pairs are written in row groups, so a
store with thousands of IS needs a bounded amount of memory (see benchmarks/features.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__, columns
from ..store.isstore import StoreError, glass_name, open_store, read_checked, read_store
from .defaults import PAIRS_DEFAULTS
from ..util.io import atomic_path
from ..util.periodic import box3
from . import kernel

FORMAT = "tlspipe-pairs"
FORMAT_VERSION = 1
META_KEY = b"tlspipe"

#: IS per positions block read from HDF5: about this many bytes per block (two blocks are held).
BLOCK_BYTES = 24 * 2**20
#: tile of the compiled loop: a row IS meets TILE_COLS column IS, which stay in L2 across TILE_ROWS rows
TILE_ROWS, TILE_COLS = 32, 16
#: pairs per Parquet row group
CHUNK_ROWS = 1 << 19
#: Parquet options: dictionary encoding only where values repeat (ids, counts); float features are
#: essentially incompressible and trying dictionaries on them halves the write speed
WRITE_OPTIONS = dict(compression="snappy",
                     use_dictionary=[columns.GLASS, columns.IS_A, columns.IS_B, columns.T_AB, columns.T_BA])


class PairsError(ValueError):
    """Input that cannot be featurised; the message names the file or argument and the fix."""


# --------------------------------------------------------------------------- single pair

def pair_features(pos_a, pos_b, box, m: int = 3) -> dict:
    """Geometric features of one pair of configurations.

    pos_a, pos_b: (N, 3) coordinates (sigma) of the same particles in the two IS; box: edge length(s) of
    the periodic box (scalar or (3,)).  Returns {dr_1..dr_M, d, pr, dist_1_2..dist_1_M} (column names of
    :mod:`tlspipe.columns`).  delta_e (= N |e_b - e_a|) and the transition counts need the store and are
    not included.  The result is symmetric under swapping the two configurations.
    """
    a = np.asarray(pos_a, np.float64)
    b = np.asarray(pos_b, np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape:
        raise PairsError(f"pair_features: positions must both be (N, 3), got {a.shape} and {b.shape}")
    box3 = _box3(box, "pair_features: box")
    m = _check_m(m, a.shape[0])
    row = kernel.single_pair(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), box3, m)
    names = columns.feature_columns(m)[1:-2]  # without delta_e, t_ab, t_ba
    return {k: float(v) for k, v in zip(names, row[1:])}


# --------------------------------------------------------------------------- whole store

def featurise_store(store_path, out_path, glass=None, m: int = PAIRS_DEFAULTS["m"],
                    max_delta_e: float = PAIRS_DEFAULTS["max_delta_e"], threads=None, *,
                    incremental: bool = True, block_is: int | None = None, chunk_rows: int = CHUNK_ROWS,
                    progress: bool | None = None) -> dict:
    """Write the features of all pairs of one glass's IS store to ``out_path`` (Parquet).

    Columns: glass (string), is_a, is_b (int64 store indices) + columns.feature_columns(m).
    glass: default :func:`tlspipe.store.isstore.glass_name` (the store's attribute, else its folder's name).  threads: numba threads (default: all).
    incremental: when ``out_path`` exists, was made with the same m and max_delta_e from this store
    (same energies of its first n_old IS), only pairs involving an IS appended since are computed; the
    old rows are kept with t_ab/t_ba refreshed from the store's current transitions.
    block_is: IS per positions block read from HDF5 (default: about 24 MiB of coordinates).
    The output is written to ``<out>.tmp`` and renamed when complete.

    Returns {n_pairs (rows in the output), n_new_pairs (computed now), n_kept_pairs, n_is, n_old_is,
    mode, seconds, pairs_per_second (computed pairs / seconds), compute_seconds (pairs only, without
    copying old rows), out}.  threads above NUMBA_NUM_THREADS are clipped to it.
    """
    t_start = time.perf_counter()
    store_path = Path(store_path)
    out_path = Path(out_path)
    info = _store_info(store_path)
    n_is, n_part = info["n_is"], info["n_particles"]
    m = _check_m(m, n_part)
    max_delta_e = _check_max_delta_e(max_delta_e)
    if chunk_rows < 1:
        raise PairsError(f"chunk_rows must be >= 1, got {chunk_rows}")
    glass = str(glass) if glass is not None else glass_name(store_path)
    energy = info["energy"]

    n_old, mode = 0, "full"
    if incremental and out_path.exists():
        n_old, mode = _reusable(out_path, m, max_delta_e, n_part, energy)

    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "m": m, "max_delta_e": max_delta_e,
        "store": str(store_path.resolve()), "n_is": n_is, "n_particles": n_part, "glass": glass,
        "energy_sha256": _energy_hash(energy), "tlspipe_version": __version__,
        "columns": columns.IDS + columns.feature_columns(m),
    }
    schema = output_schema(m).with_metadata({META_KEY: json.dumps(meta).encode()})
    trans = _TransitionLookup(info["trans_src"], info["trans_dst"], info["trans_count"], n_is)

    old_threads = numba.get_num_threads()
    if threads is not None:
        threads = int(threads)
        if threads < 1:
            raise PairsError(f"threads must be >= 1, got {threads}")
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    n_kept = n_new = 0
    t_compute = 0.0
    try:
        with atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema, **WRITE_OPTIONS) as writer:
            sink = _Sink(writer, schema, glass, m, trans, chunk_rows)
            try:
                if n_old:
                    n_kept = _copy_old(out_path, sink, chunk_rows)
                t0 = time.perf_counter()
                n_new = _compute(store_path, info, m, max_delta_e, n_old, sink, block_is, progress)
                sink.flush()
            finally:
                sink.close()  # waits for the last background write (and re-raises its error)
            t_compute = time.perf_counter() - t0
    finally:
        numba.set_num_threads(old_threads)
    seconds = time.perf_counter() - t_start
    return {
        "n_pairs": n_kept + n_new, "n_new_pairs": n_new, "n_kept_pairs": n_kept, "n_is": n_is,
        "n_old_is": n_old, "mode": mode, "seconds": seconds,
        "pairs_per_second": n_new / seconds if seconds > 0 else float("nan"),
        "compute_seconds": t_compute, "out": str(out_path),
    }


def output_schema(m: int = 3) -> pa.Schema:
    """Arrow schema of a pair table (without metadata)."""
    fields = [pa.field(columns.GLASS, pa.string()), pa.field(columns.IS_A, pa.int64()),
              pa.field(columns.IS_B, pa.int64())]
    for name in columns.feature_columns(m):
        fields.append(pa.field(name, pa.int64() if name in (columns.T_AB, columns.T_BA) else pa.float64()))
    return pa.schema(fields)


def read_metadata(path) -> dict:
    """The tlspipe metadata stored in a pair table's Parquet schema."""
    path = Path(path)
    try:
        md = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as e:
        raise PairsError(f"{path}: not a readable Parquet file ({e}); delete it and rerun 'tlspipe features'") from e
    if META_KEY not in md:
        raise PairsError(f"{path}: no tlspipe metadata; it was not written by 'tlspipe features' - "
                         "delete it and rerun")
    return json.loads(md[META_KEY])


# --------------------------------------------------------------------------- helpers

def _box3(box, what) -> np.ndarray:
    b = box3(box)
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise PairsError(f"{what} must be positive and finite, got {b}")
    return b


def _check_m(m, n_particles) -> int:
    if int(m) != m or m < 1:
        raise PairsError(f"m (number of largest displacements) must be an integer >= 1, got {m!r}")
    if m > n_particles:
        raise PairsError(f"m = {m} exceeds the number of particles {n_particles}")
    return int(m)


def _check_max_delta_e(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise PairsError(f"max_delta_e must be a number (epsilon), got {x!r}") from None
    if math.isnan(x) or x < 0:
        raise PairsError(f"max_delta_e must be >= 0 (epsilon; inf keeps every pair), got {x}")
    return x


def _energy_hash(energy) -> str:
    return hashlib.sha256(np.ascontiguousarray(energy, "<f8").tobytes()).hexdigest()


def _store_info(path: Path) -> dict:
    """Everything but the coordinates, validated."""
    try:
        s = read_store(path, positions=False)  # positions=False: no coordinates are loaded
    except StoreError as e:
        raise PairsError(str(e)) from e
    n = s.n_is
    if not np.all(np.isfinite(s.energy)):
        bad = np.flatnonzero(~np.isfinite(s.energy))[:5]
        raise PairsError(f"{path}: dataset 'energy' has non-finite values at IS {bad.tolist()}; "
                         "the store is damaged - rebuild it")
    _box3(s.box, f"{path}: dataset 'box'")
    src, dst, cnt = s.trans_src, s.trans_dst, s.trans_count
    if not (src.shape == dst.shape == cnt.shape):
        raise PairsError(f"{path}: transitions/src, dst and count differ in length; rebuild the store")
    if src.size and (src.min() < 0 or dst.min() < 0 or src.max() >= n or dst.max() >= n):
        raise PairsError(f"{path}: transitions refer to IS outside 0..{n - 1}; the store is damaged - rebuild it")
    if cnt.size and cnt.min() < 0:
        raise PairsError(f"{path}: negative transition counts in transitions/count; rebuild the store")
    return {"n_is": n, "n_particles": s.n_particles, "box": s.box, "energy": s.energy,
            "trans_src": src, "trans_dst": dst, "trans_count": cnt}


def _reusable(out_path: Path, m, max_delta_e, n_particles, energy) -> tuple[int, str]:
    """(n_old, mode) for an existing output: n_old > 0 if its rows can be kept."""
    try:
        meta = read_metadata(out_path)
        pq_schema = pq.read_schema(out_path)
    except (PairsError, ValueError):
        return 0, "full (existing output unreadable)"
    if meta.get("format") != FORMAT:
        return 0, "full (existing output has another format)"
    if meta.get("m") != m or meta.get("max_delta_e") != max_delta_e:
        return 0, "full (m or max_delta_e changed)"
    if meta.get("n_particles") != n_particles:
        return 0, "full (number of particles changed)"
    n_old = int(meta.get("n_is", -1))
    if not 0 < n_old <= energy.size:
        return 0, "full (the store has fewer IS than the existing output)"
    if meta.get("energy_sha256") != _energy_hash(energy[:n_old]):
        return 0, "full (the store's first IS differ from those of the existing output)"
    if pq_schema.names != output_schema(m).names:
        return 0, "full (existing output has other columns)"
    return n_old, f"incremental ({energy.size - n_old} new IS)"


class _TransitionLookup:
    """Directed counts T[src, dst] of the store, looked up for arrays of pairs."""

    def __init__(self, src, dst, cnt, n):
        keys = np.asarray(src, np.int64) * n + np.asarray(dst, np.int64)
        self.keys, inv = np.unique(keys, return_inverse=True)
        self.counts = np.bincount(inv, weights=cnt, minlength=self.keys.size).astype(np.int64)
        self.n = n

    def __call__(self, src, dst) -> np.ndarray:
        if self.keys.size == 0:
            return np.zeros(len(src), np.int64)
        k = np.asarray(src, np.int64) * self.n + np.asarray(dst, np.int64)
        pos = np.minimum(np.searchsorted(self.keys, k), self.keys.size - 1)
        return np.where(self.keys[pos] == k, self.counts[pos], 0)


class _Sink:
    """Buffers computed pairs and writes them as row groups of ``chunk_rows`` (the last may be shorter).

    Row groups are assembled and written by one background thread while the next block is computed;
    at most one write is in flight, so memory stays bounded by about three row groups.
    """

    def __init__(self, writer, schema, glass, m, trans, chunk_rows):
        self.writer, self.schema, self.m, self.trans, self.chunk_rows = writer, schema, m, trans, chunk_rows
        self.glass = pa.array([glass], pa.string())
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.n_buf = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tlspipe-pairs-writer")
        self._pending = None

    def _submit(self, fn, *args):
        self._wait()
        self._pending = self._pool.submit(fn, *args)

    def _wait(self):
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self):
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)

    def add(self, feat: np.ndarray, ids: np.ndarray):
        if len(feat):
            self.parts.append((feat, ids))
            self.n_buf += len(feat)
        if self.n_buf >= self.chunk_rows:
            self.flush(final=False)

    def flush(self, final: bool = True):
        """Write whole row groups of chunk_rows; the remainder stays buffered unless final."""
        if not self.parts:
            return
        feat = np.concatenate([p[0] for p in self.parts])
        ids = np.concatenate([p[1] for p in self.parts])
        n_write = len(feat) if final else len(feat) - len(feat) % self.chunk_rows
        for i0 in range(0, n_write, self.chunk_rows):
            i1 = min(i0 + self.chunk_rows, n_write)
            self._submit(self._write, feat[i0:i1], ids[i0:i1])
        self.parts = [(feat[n_write:].copy(), ids[n_write:].copy())] if n_write < len(feat) else []
        self.n_buf = len(feat) - n_write

    def _write(self, feat, ids):
        ia, ib = ids[:, 0], ids[:, 1]
        n = len(ia)
        cols = {columns.GLASS: self.glass_column(n), columns.IS_A: ia, columns.IS_B: ib}
        for j, name in enumerate(columns.feature_columns(self.m)[:-2]):
            cols[name] = feat[:, j]
        cols[columns.T_AB] = self.trans(ia, ib)
        cols[columns.T_BA] = self.trans(ib, ia)
        self.writer.write_table(pa.table(cols, schema=self.schema), row_group_size=self.chunk_rows)

    def glass_column(self, n):
        return pc.take(self.glass, pa.array(np.zeros(n, np.int32)))

    def write_table(self, table):
        self._submit(self.writer.write_table, table, self.chunk_rows)


def _copy_old(path: Path, sink: _Sink, chunk_rows) -> int:
    """Copy the rows of an existing output, refreshing glass, t_ab and t_ba.  Returns the row count."""
    n = 0
    names = sink.schema.names
    i_glass, i_tab, i_tba = names.index(columns.GLASS), names.index(columns.T_AB), names.index(columns.T_BA)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        t = pa.Table.from_batches([batch]).select(names)
        ia = t.column(columns.IS_A).to_numpy()
        ib = t.column(columns.IS_B).to_numpy()
        t = t.set_column(i_glass, columns.GLASS, sink.glass_column(len(ia)))
        t = t.set_column(i_tab, columns.T_AB, pa.array(sink.trans(ia, ib)))
        t = t.set_column(i_tba, columns.T_BA, pa.array(sink.trans(ib, ia)))
        sink.write_table(t.cast(sink.schema))
        n += len(ia)
    return n


class _BlockReader:
    """Coordinates of sets of IS as (k, 3, N) structure-of-arrays blocks, read from one open HDF5 file."""

    def __init__(self, path: Path):
        self.path = path
        self.h = open_store(path)
        self.ds = self.h["positions"]

    def read(self, ids: np.ndarray) -> np.ndarray:
        order = np.argsort(ids)
        srt = ids[order]
        out = np.empty((ids.size, 3, self.ds.shape[1]))
        # contiguous runs of store indices are read as one slice; others one IS at a time
        starts = np.flatnonzero(np.diff(srt, prepend=-2) != 1)
        ends = np.append(starts[1:], srt.size)
        for s, e in zip(starts, ends):
            try:
                block = read_checked(self.path, self.ds, slice(srt[s], srt[e - 1] + 1))
            except StoreError as err:
                raise PairsError(str(err)) from err
            out[order[s:e]] = block.transpose(0, 2, 1)
        if not np.all(np.isfinite(out)):
            bad = ids[~np.isfinite(out).all(axis=(1, 2))][:5]
            raise PairsError(f"{self.path}: dataset 'positions' has non-finite coordinates in IS {bad.tolist()}; "
                             "the store is damaged - rebuild it")
        return out

    def close(self):
        self.h.close()


def _default_block(n_particles) -> int:
    return int(max(TILE_ROWS, min(2048, BLOCK_BYTES // (24 * n_particles))))


def _compute(store_path, info, m, max_delta_e, n_old, sink, block_is, progress) -> int:
    """Compute all pairs involving at least one IS with store index >= n_old; returns their number."""
    energy = info["energy"]
    n = energy.size
    n_part = info["n_particles"]
    box = _box3(info["box"], f"{store_path}: dataset 'box'")
    if n < 2 or n_old >= n:
        return 0
    b = int(block_is) if block_is else _default_block(n_part)
    if b < 1:
        raise PairsError(f"block_is must be >= 1, got {block_is}")

    order = np.lexsort((np.arange(n), energy))  # energy rank -> store index (ties: lower index first)
    e_sorted = np.ascontiguousarray(energy[order])
    rank_is_row = order >= n_old  # column IS that are also rows count their pairs once
    row_ranks = np.flatnonzero(rank_is_row).astype(np.int64)
    lo, hi = kernel.rank_windows(e_sorted, float(n_part), max_delta_e, row_ranks, n_old > 0)

    reader = _BlockReader(store_path)
    p0 = reader.read(np.zeros(1, np.int64))[0]  # the reference of every IS's translation (kernel.translations)
    total = 0
    try:
        from tqdm import tqdm

        blocks = range(0, row_ranks.size, b)
        for r0 in tqdm(blocks, desc=f"pairs {store_path.parent.name}", unit="block", disable=_no_bar(progress)):
            rr = row_ranks[r0:r0 + b]
            rlo, rhi = lo[r0:r0 + b], hi[r0:r0 + b]
            c_first, c_last = int(rlo.min()), int(rhi.max())
            if n_old == 0:
                c_first = int(rr[0])  # the first column block is the row block itself: read it once
            if c_first > c_last:
                continue
            prow = reader.read(order[rr])
            row_t = kernel.translations(p0, prow, box)
            row_id = order[rr].astype(np.int64)
            row_e = e_sorted[rr]
            for c0 in range(c_first, c_last + 1, b):
                cr = np.arange(c0, min(c0 + b, c_last + 1), dtype=np.int64)
                same = np.array_equal(cr, rr)
                pcol = prow if same else reader.read(order[cr])
                col_t = row_t if same else kernel.translations(p0, pcol, box)
                col_is_row = rank_is_row[cr]
                tr0, tc0, cnt = kernel.count_tasks(rr, rlo, rhi, cr, col_is_row, TILE_ROWS, TILE_COLS)
                npair = int(cnt.sum())
                if npair == 0:
                    continue
                offsets = np.zeros(cnt.size, np.int64)
                np.cumsum(cnt[:-1], out=offsets[1:])
                feat = np.empty((npair, kernel.n_geo(m)))
                ids = np.empty((npair, 2), np.int64)
                kernel.block_features(prow, pcol, rr, rlo, rhi, row_id, row_e, cr, order[cr].astype(np.int64),
                                      e_sorted[cr], col_is_row, box, float(n_part), m, tr0, tc0, offsets,
                                      TILE_ROWS, TILE_COLS, feat, ids, row_t, col_t)
                sink.add(feat, ids)
                total += npair
    finally:
        reader.close()
    return total


def _no_bar(progress):
    return None if progress is None else not progress
