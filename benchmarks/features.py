"""Throughput and memory of the pair featurisation (tlspipe.pairs).

Synthetic stores: one random configuration of N particles (number density 1) and n_is inherent
structures made from it by small random displacements (a few particles move more), energies per particle
uniform over 1.5/N so that most pairs (~89 %) pass delta_e <= 1.

Prints ``name: value unit`` lines; the last one is ``pairs_per_second: X`` (end-to-end, HDF5 in -> Parquet
out, per core).

    python benchmarks/features.py                      # N=1500, 800 IS, RSS run with 5000 IS
    python benchmarks/features.py --n-is-rss 0         # throughput only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_store(path: Path, n_is: int, n_part: int, seed: int = 0) -> Path:
    from tlspipe.store.isstore import ISStore, write_store

    rng = np.random.default_rng(seed)
    L = n_part ** (1.0 / 3.0)
    base = rng.uniform(-L / 2, L / 2, (n_part, 3))
    pos = np.empty((n_is, n_part, 3))
    for k in range(n_is):  # small vibrations everywhere, a few particles hop by ~0.3-1 sigma
        p = base + rng.normal(0, 0.02, (n_part, 3))
        hop = rng.choice(n_part, 10, replace=False)
        p[hop] += rng.normal(0, 0.4, (10, 3))
        pos[k] = p - L * np.floor(p / L + 0.5)
    energy = 0.2 + rng.uniform(0, 1.5 / n_part, n_is)
    n_t = 4 * n_is
    src = rng.integers(0, n_is, n_t)
    dst = (src + rng.integers(1, n_is, n_t)) % n_is
    store = ISStore(diameters=np.ones(n_part), box=np.full(3, L), positions=pos, energy=energy,
                    trans_src=src, trans_dst=dst, trans_count=np.ones(n_t, np.int64))
    return write_store(path, store)


def kernel_only(store_path: Path, n_block: int, m: int, repeat: int = 3) -> tuple[int, float]:
    """One diagonal block (n_block IS, all pairs, no energy filter) through the compiled kernel only."""
    import numba

    from tlspipe.pairs import features as pf
    from tlspipe.pairs import kernel
    from tlspipe.store.isstore import read_positions, read_store

    info = read_store(store_path, positions=False)
    n_part = info.n_particles
    ids = np.arange(n_block)
    P = np.ascontiguousarray(read_positions(store_path, ids).transpose(0, 2, 1))
    e = np.sort(info.energy[:n_block])
    ranks = np.arange(n_block, dtype=np.int64)
    lo, hi = kernel.rank_windows(e, float(n_part), np.inf, ranks, False)
    is_row = np.ones(n_block, bool)
    tr0, tc0, cnt = kernel.count_tasks(ranks, lo, hi, ranks, is_row, pf.TILE_ROWS, pf.TILE_COLS)
    off = np.zeros(cnt.size, np.int64)
    np.cumsum(cnt[:-1], out=off[1:])
    npair = int(cnt.sum())
    feat = np.empty((npair, kernel.n_geo(m)))
    out_ids = np.empty((npair, 2), np.int64)
    # each IS's translation from IS 0 (kernels without translations, before tlspipe removed them, take none)
    trans = (kernel.translations(P[0], P, info.box),) * 2 if hasattr(kernel, "translations") else ()
    numba.set_num_threads(1)
    best = best_cpu = np.inf
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        kernel.block_features(P, P, ranks, lo, hi, ranks, e, ranks, ranks, e, is_row, info.box, float(n_part), m,
                              tr0, tc0, off, pf.TILE_ROWS, pf.TILE_COLS, feat, out_ids, *trans)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return npair, best, best_cpu


_CHILD = """
import json, resource, sys
from tlspipe.pairs import featurise_store
s = featurise_store(sys.argv[1], sys.argv[2], m=int(sys.argv[3]), threads=int(sys.argv[4]))
s["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(s))
"""


def run_child(store, out, m, threads) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, str(store), str(out), str(m), str(threads)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-particles", type=int, default=1500)
    ap.add_argument("--n-is", type=int, default=800, help="IS in the throughput store")
    ap.add_argument("--n-is-rss", type=int, default=5000, help="IS in the peak-memory run (0: skip)")
    ap.add_argument("--m", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="threads of the multi-core end-to-end run")
    ap.add_argument("--workdir", default=None, help="where the stores and tables go (default: a temp dir)")
    args = ap.parse_args(argv)

    import numba

    from tlspipe.pairs import featurise_store

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        store = make_store(tmp / "bench" / "is.h5", args.n_is, args.n_particles)
        print(f"n_particles: {args.n_particles} particles")
        print(f"n_is: {args.n_is} IS")
        print(f"m: {args.m}")
        print(f"cpu_cores_visible: {numba.config.NUMBA_NUM_THREADS} cores")

        featurise_store(store, tmp / "warm.parquet", m=args.m, threads=1, progress=False)  # compile
        npair, dt, cpu = kernel_only(store, min(args.n_is, 256), args.m)
        print(f"kernel_pairs_per_second_per_core: {npair / dt:.4g} pairs/s")
        print(f"kernel_pairs_per_cpu_second: {npair / cpu:.4g} pairs/s")
        print(f"kernel_time_per_pair: {dt / npair * 1e6:.3f} us")

        res = {}
        for th in sorted({1, args.threads}):
            out = tmp / f"pairs_{th}.parquet"
            out.unlink(missing_ok=True)
            c = time.process_time()
            s = featurise_store(store, out, m=args.m, threads=th, progress=False, incremental=False)
            cpu = time.process_time() - c
            res[th] = s
            print(f"end_to_end_pairs_{th}thread: {s['n_pairs']} pairs")
            print(f"end_to_end_seconds_{th}thread: {s['seconds']:.3f} s")
            print(f"end_to_end_pairs_per_second_{th}thread: {s['pairs_per_second']:.4g} pairs/s")
            print(f"end_to_end_pairs_per_second_per_core_{th}thread: {s['pairs_per_second'] / th:.4g} pairs/s")
            print(f"end_to_end_pairs_per_cpu_second_{th}thread: {s['n_pairs'] / cpu:.4g} pairs/s")
        print(f"parquet_bytes_per_pair: {(tmp / 'pairs_1.parquet').stat().st_size / res[1]['n_pairs']:.1f} B")

        if args.n_is_rss > 0:
            small = make_store(tmp / "small" / "is.h5", 20, args.n_particles, seed=2)
            base = run_child(small, tmp / "small.parquet", args.m, args.threads)
            print(f"peak_rss_baseline_{20}is: {base['maxrss_mb']:.0f} MB")
            big = make_store(tmp / "big" / "is.h5", args.n_is_rss, args.n_particles, seed=1)
            s = run_child(big, tmp / "big.parquet", args.m, args.threads)
            print(f"rss_run_n_is: {args.n_is_rss} IS")
            print(f"rss_run_pairs: {s['n_pairs']} pairs")
            print(f"rss_run_seconds_{args.threads}thread: {s['seconds']:.1f} s")
            print(f"rss_run_pairs_per_second_{args.threads}thread: {s['pairs_per_second']:.4g} pairs/s")
            print(f"peak_rss_{args.n_is_rss}is: {s['maxrss_mb']:.0f} MB")
            big.unlink()
            (tmp / "big.parquet").unlink()

        print(f"pairs_per_second: {res[1]['pairs_per_second']:.4g}")


if __name__ == "__main__":
    main()
