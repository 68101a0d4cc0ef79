"""Memory and time of the steps that read a whole study, at the paper's scale (~10^8 pairs).

`batch` (choosing a round's pairs) and `tls_table` run where Snakemake runs (localrules: a login node), so
they must stay within 2 GB however many pairs the study has.  This writes fake tables in a temporary
directory: per glass (default 255 glasses x 400,000 pairs = 1.02x10^8) a pair table in the pairs rule's
layout (pair-table schema, dictionary-encoded ids, random features) and a prediction table of one round,
and the exact results of 11 rounds (loop.k0 = 5,000, then 500 pairs each) and of the standard procedure;
no physics.  Each step then runs in a fresh process, and that process's peak resident memory
(resource.getrusage ru_maxrss) and wall-clock time are printed as ``name: value unit`` lines:

- batch_next: a later round's batch (loop.batch 500) from the 255 prediction tables, 11 rounds done;
- batch_initial: round 0 (loop.k0 5,000, half screened by d, half uniform) from the pair tables;
- batch_baseline: the standard procedure's batch (min(T_ab, T_ba) >= 4) from the pair tables;
- tls_table: tls.parquet: every computed pair's features and each of the 11 rounds' predictions of it (the
  one prediction file set is read for every round: the same bytes a real study's 11 rounds would be).

Run: python benchmarks/batch_scale.py [--glasses 255] [--rows 400000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tlspipe import columns as C
from tlspipe.pairs.features import CHUNK_ROWS, WRITE_OPTIONS, output_schema

ROUNDS = 11
STEPS = ("batch_next", "batch_initial", "batch_baseline", "tls_table")


def glass_names(n):
    return [f"tf0.062_g{i:03d}" for i in range(n)]


def write_study(root: Path, n_glasses: int, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "pairs").mkdir(parents=True)
    (root / "predictions").mkdir()
    (root / "exact").mkdir()
    schema = output_schema(3)
    chosen = []
    for g in glass_names(n_glasses):
        i = np.arange(rows)
        ia, ib = i // 1000, i // 1000 + 1 + i % 1000  # distinct pairs (is_a < is_b)
        cols = {C.GLASS: pa.DictionaryArray.from_arrays(np.zeros(rows, np.int32), [g]).cast(pa.string()),
                C.IS_A: ia, C.IS_B: ib}
        for name in C.feature_columns(3):
            cols[name] = rng.poisson(0.4, rows) if name in (C.T_AB, C.T_BA) else rng.random(rows)
        pq.write_table(pa.table(cols, schema=schema), root / "pairs" / f"{g}.parquet",
                       row_group_size=CHUNK_ROWS, **WRITE_OPTIONS)
        pq.write_table(pa.table({C.GLASS: cols[C.GLASS], C.IS_A: ia, C.IS_B: ib, C.TF: np.full(rows, 0.062),
                                 C.PRED_DW: rng.random(rows), C.PRED_E_QS: rng.lognormal(-5, 1, rows),
                                 C.PRED_BARRIER: rng.random(rows)}), root / "predictions" / f"{g}.parquet")
        chosen.append((g, rng.choice(rows, 60, replace=False)))  # pairs computed exactly, ~10,000 in all
    ids = [(g, k // 1000, k // 1000 + 1 + k % 1000) for g, ks in chosen for k in ks]
    n = len(ids)
    exact = {C.GLASS: [x[0] for x in ids], C.IS_A: [x[1] for x in ids], C.IS_B: [x[2] for x in ids],
             C.STATUS: rng.choice([C.STATUS_DW, C.STATUS_NOT_DW], n), C.E_QS: rng.lognormal(-5, 1, n),
             C.E_QS_K: rng.random(n), C.BARRIER: rng.random(n), C.DELTA_E: rng.random(n),
             C.PATH_LENGTH: rng.random(n), C.DELTA0: rng.random(n), C.N_ITER: np.full(n, 100),
             C.SECONDS: rng.random(n)}
    t = pa.table(exact)
    bounds = [0, 5000] + [5000 + 500 * k for k in range(1, ROUNDS)]
    for r in range(ROUNDS):
        part = t.slice(bounds[r], bounds[r + 1] - bounds[r])
        pq.write_table(part.append_column(C.ROUND, pa.array(np.full(part.num_rows, r))),
                       root / "exact" / f"round_{r}.parquet")
    pq.write_table(t.slice(bounds[-1]), root / "exact" / "baseline.parquet")


def run_step(root: Path, step: str) -> dict:
    from tlspipe.figures import results
    from tlspipe.loop import run

    pairs = sorted(str(p) for p in (root / "pairs").glob("*.parquet"))
    preds = sorted(str(p) for p in (root / "predictions").glob("*.parquet"))
    loop = [str(root / "exact" / f"round_{r}.parquet") for r in range(ROUNDS)]
    out = root / "out" / step
    t0 = time.perf_counter()
    if step == "batch_next":
        b = run.select_next(preds, loop, out / "batch.parquet", out / "chunks", batch=500, dw_threshold=0.5,
                            qs_factor=None, tls_threshold=0.0015, chunk=50)
    elif step == "batch_initial":
        b = run.select_initial(pairs, out / "batch.parquet", out / "chunks", k0=5000, screen_fraction=0.5,
                               seed=2023, chunk=50)
    elif step == "batch_baseline":
        b = run.select_baseline(pairs, out / "batch.parquet", out / "chunks", min_transitions=4, chunk=50)
    else:
        tf = {Path(p).stem: 0.062 for p in pairs}
        b = results.build_tls_table(loop, root / "exact" / "baseline.parquet", pairs, [preds] * ROUNDS, tf,
                                    out / "tls.parquet", 0.0015)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rows": len(b)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--glasses", type=int, default=255)
    ap.add_argument("--rows", type=int, default=400_000, help="pairs per glass")
    ap.add_argument("--keep", type=Path, default=None, help="write the fake tables here and keep them")
    ap.add_argument("--step", choices=STEPS, default=None, help=argparse.SUPPRESS)  # one measured step
    ap.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.step:
        print(json.dumps(run_step(args.dir, args.step)))
        return 0
    root = args.keep or Path(tempfile.mkdtemp(prefix="tlspipe-batch-"))
    if args.keep and root.exists():
        shutil.rmtree(root)
    try:
        t0 = time.perf_counter()
        write_study(root, args.glasses, args.rows)
        n = args.glasses * args.rows
        print(f"# {args.glasses} glasses x {args.rows:,} pairs = {n:.3g} pairs written in "
              f"{time.perf_counter() - t0:.0f} s under {root}")
        print(f"pairs: {n} pairs")
        for step in STEPS:
            r = subprocess.run([sys.executable, __file__, "--step", step, "--dir", str(root)], capture_output=True,
                               text=True)
            if r.returncode:
                raise RuntimeError(f"{step} failed:\n{r.stderr[-3000:]}")
            res = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{step}_time: {res['seconds']:.1f} s")
            print(f"{step}_peak_rss: {res['peak_rss_mb']:.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
