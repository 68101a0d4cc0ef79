"""Benchmark of tlspipe.learn on a synthetic stand-in for the pair table.

Table: the 11 columns of columns.feature_columns(3), ~20k rows, 20 glasses (a per-glass shift of the
features and of the targets makes the grouped split matter).  The DW label and log10 E_qs are non-linear
functions of the features plus noise; they only stand in for the real tables in size and shape.

Prints ``name: value unit`` lines:
- hold-out accuracy (DW) and R^2 of log10 E_qs (QS) of the stack and of each single member, every one of
  them trained with the same wall-clock budget (a single member is a 1-layer stack of one kind);
- training time of the stacks;
- inference throughput of the refit DW classifier on 2 threads (last line).

Training uses --train-threads (default 1: the machine is shared), prediction --threads (default 2).
Run: python benchmarks/learn.py [--rows 20000] [--budget 60] [--train-threads 1] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

# the machine is shared: OpenMP threads that spin while waiting slow everyone down (and LightGBM/XGBoost
# training by >10x when cores are oversubscribed)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from tlspipe import columns as C
from tlspipe.learn import DEFAULTS, TaskSpec, evaluate, train_task


def synthetic_pairs(n_rows: int = 20_000, n_glasses: int = 20, seed: int = 0) -> pd.DataFrame:
    """Pair-table stand-in: ids, feature_columns(3), is_dw, e_qs (epsilon) and barrier (epsilon)."""
    rng = np.random.default_rng(seed)
    glass = rng.integers(0, n_glasses, n_rows)
    shift = rng.normal(0.0, 0.15, n_glasses)[glass]
    dr = np.sort(rng.lognormal(-1.5 + shift[:, None], 0.6, size=(n_rows, 3)), axis=1)[:, ::-1]
    d = np.sqrt((dr**2).sum(1) + rng.lognormal(-3.0, 0.8, n_rows))
    pr = d**4 / ((dr**4).sum(1) + 1e-3 * d**4)
    delta_e = rng.exponential(0.05, n_rows) * np.exp(shift)
    dist12 = rng.uniform(0.8, 2.0, n_rows)
    dist13 = dist12 + rng.uniform(0.0, 1.0, n_rows)
    t_ab = rng.poisson(np.exp(1.5 - 2.0 * d), n_rows)
    t_ba = rng.poisson(np.exp(1.5 - 2.0 * d + 5.0 * delta_e), n_rows)
    score = (
        2.5 - 3.0 * d + 1.5 * np.tanh(np.log(pr) - 1.0) - 20.0 * delta_e
        + 0.6 * np.log1p(np.minimum(t_ab, t_ba)) + 1.2 * np.sin(4.0 * dist12) * (d < 0.6) + shift
    )
    is_dw = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-3.0 * score))
    log_qs = (-2.0 + 1.8 * np.log10(d) + 1.5 * np.log10(delta_e + 1e-3) + 0.3 * np.cos(3.0 * dist13)
              - 0.2 * np.log(pr) + 0.5 * shift + 0.15 * rng.normal(size=n_rows))
    barrier = 10 ** (-1.0 + 1.2 * np.log10(d) - 0.5 * np.log10(pr) + 0.1 * rng.normal(size=n_rows))
    df = pd.DataFrame({C.GLASS: glass, C.IS_A: np.arange(n_rows), C.IS_B: np.arange(n_rows) + 1})
    cols = dict(zip(C.feature_columns(3),
                    [delta_e, dr[:, 0], dr[:, 1], dr[:, 2], d, pr, dist12, dist13, t_ab, t_ba]))
    for k, v in cols.items():
        df[k] = v
    df[C.IS_DW] = is_dw
    df[C.E_QS] = np.where(is_dw, 10**log_qs, np.nan)
    df[C.BARRIER] = np.where(is_dw, barrier, np.nan)
    return df


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--glasses", type=int, default=20)
    ap.add_argument("--budget", type=float, default=60.0, help="wall-clock budget of every fit, s")
    ap.add_argument("--threads", type=int, default=2, help="prediction threads")
    ap.add_argument("--train-threads", type=int, default=1, help="training threads")
    ap.add_argument("--predict-rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="only the inference throughput")
    args = ap.parse_args(argv)
    df = synthetic_pairs(args.rows, args.glasses)
    cfg = {"n_threads": args.train_threads, "time_budget": args.budget}
    print(f"rows: {len(df)} pairs")
    print(f"dw_fraction: {df[C.IS_DW].mean():.3f} 1")
    if not args.quick:
        for task, metric, loss in (("dw", "accuracy", "log_loss"), ("qs", "r2", "weighted_mse")):
            res = evaluate(df, task, cfg, seed=0)
            print(f"{task}_stack_{metric}: {res['stack'][metric]:.4f} 1")
            print(f"{task}_stack_{loss}: {res['stack'][loss]:.4f} 1")
            print(f"{task}_stack_fit_seconds: {res['fit_seconds']:.1f} s")
            print(f"{task}_stack_weights: {' '.join(f'{k}={v:.2f}' for k, v in res['weights'].items())} 1")
            best = -np.inf
            for kind in DEFAULTS["members"]:
                single = evaluate(df, task, {**cfg, "members": [kind], "n_layers": 1}, seed=0)
                val = single["stack"][metric]
                best = max(best, val)
                print(f"{task}_single_{kind}_{metric}: {val:.4f} 1")
                print(f"{task}_single_{kind}_{loss}: {single['stack'][loss]:.4f} 1")
                print(f"{task}_single_{kind}_fit_seconds: {single['fit_seconds']:.1f} s")
            print(f"{task}_stack_minus_best_single_{metric}: {res['stack'][metric] - best:+.4f} 1")
    # inference throughput of the refit DW classifier
    t0 = time.perf_counter()
    model = train_task(df, "dw", cfg)
    print(f"dw_train_seconds: {time.perf_counter() - t0:.1f} s")
    print(f"dw_refit_models: {' '.join(f'{c}:{m.n_rounds_}' for c, m in model.stack.models_.items())} rounds")
    big = df.sample(args.predict_rows, replace=True, random_state=1).reset_index(drop=True)
    model.predict(big.iloc[:50_000], n_threads=args.threads)  # warm-up: JIT and compiled forests
    X = model.matrix(big)
    for c, m in model.stack.models_.items():
        if c.startswith("L1_") and model.stack.weights_.get(c, 0) > 0:
            t0 = time.perf_counter()
            m.predict(X, n_threads=args.threads)
            print(f"dw_member_{c}_pairs_per_second: {len(X) / (time.perf_counter() - t0):.4g} pairs/s")
    t0, c0 = time.perf_counter(), time.process_time()
    model.predict(big, n_threads=args.threads)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU time of all threads: less sensitive than wall clock to other jobs on a shared machine
    print(f"dw_inference_pairs_per_cpu_second: {len(big) / cpu:.4g} pairs/s")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} 1")
    print(f"dw_inference_pairs_per_second: {len(big) / dt:.4g}")


if __name__ == "__main__":
    main()
