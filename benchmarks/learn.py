"""Benchmark of tlspipe.learn: held-out scores on the authors' labelled tables, SHAP and training time at the
size of the default study, and inference throughput.

Scores (``--sections scores``).  The authors' tables of data/pretraining (read by loop.pretrain exactly as
the default study's training reads them: 8,045 pairs of 294 glasses, its features without t_ab/t_ba), split
once by glass with ``learn.holdout_split`` (20% of the glasses held out, split seed ``--splits``); the
models get the default study's learn config (seed 2023, one thread, ``--budget`` cap) and are scored on the
held-out glasses.  Side by side: the stack, its best single member (in hindsight, on the held-out rows),
and a default LightGBM (library defaults, the task's sample weights):

- ``{stack,best_member,lightgbm}_dw_accuracy`` (and ``_dw_log_loss``): the DW classifier;
- ``{stack,best_member,lightgbm}_qs_pearson_log`` (and ``_qs_weighted_mse``): Pearson r of log10 E_qs;
- ``{...}_barrier_pearson_log``: the barrier regressor.  The authors' tables hold no barrier, so this one
  runs on the synthetic stand-in table of :func:`synthetic_pairs` (labelled ``synthetic`` in the line).
- ``{task}_stack_choice``: what the stack chose by cross-validated loss (``ensemble`` or the candidate it
  fell back to); ``{task}_cv_{loss}``: the cross-validated selection loss of every choice, lowest first
  (the inner CV: the stack's own glass-grouped folds of the training glasses).

SHAP (``shap``): the DW and E_qs models of the default study's size (the authors' rows plus a round's worth
of rows of its own, see :func:`study_sized_table`), explained on the seeded sample of the ``shap`` job
(``--shap-rows``, the job's default) and on the job's earlier 2,000 (``--shap-full-rows``): seconds of each and whether the features'
mean-|SHAP| ranking (Fig. 5's order) is the same.

The shap job (``shapjob``): ``learn.rounds.shap_round`` for the DW and E_qs models of the default study's
size on stand-in pair tables of its size (``--job-pairs``, 4.6 M pairs in two glasses' files, written as the
pair step writes them: its schema, compression and row groups), against the job's earlier way (read every
pair with ``read_pairs``, then ``shap_sample``), alternated ``--ab-rounds`` times in one run; the two give
the same table (checked).

Training (``train``): the three models of one round of the default study on the same table: seconds each
and in all (the ``train`` job's work).

Inference (``inference``): throughput of the refit DW classifier on 2 threads, on the synthetic table
(~20k rows, 20 glasses, the 11 columns of columns.feature_columns(3)).

Prints ``name: value unit`` lines.  Training uses --train-threads (default 1: the machine is shared),
prediction --threads (default 2).
Run: python benchmarks/learn.py [--sections scores,shap,shapjob,train,inference] [--splits 0,1,2] [--budget 600]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# the machine is shared: OpenMP threads that spin while waiting slow everyone down (and LightGBM/XGBoost
# training by >10x when cores are oversubscribed)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from tlspipe import columns as C
from tlspipe.learn import evaluate, holdout_split, shap_values, train_task
from tlspipe.learn.tasks import get_spec, prepare

REPO = Path(__file__).resolve().parents[1]
PRETRAIN = [REPO / "data" / "pretraining" / f"ciarella2023-{t}-T0062.parquet" for t in ("classifier", "predictor")]
#: the default study's model inputs (config/config.yaml: learn.exclude_features [t_ab, t_ba])
STUDY_FEATURES = [c for c in C.feature_columns(3) if c not in (C.T_AB, C.T_BA)]
STUDY_SEED = 2023
#: rows of the study's own in the stand-in table: rounds 0-4 of 50 pairs (loop.k0, loop.batch)
OWN_ROWS = 250
#: rows the shap job explains (loop.run.shap_round's max_rows)
SHAP_ROWS = 200


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



def authors_table() -> pd.DataFrame:
    """The authors' labelled pairs as the default study's training reads them (loop.pretrain)."""
    from tlspipe.loop.pretrain import read_pretraining

    return read_pretraining(PRETRAIN, "paper", STUDY_FEATURES).drop(columns=["source"])


def study_sized_table(seed: int = 0) -> pd.DataFrame:
    """The authors' pairs plus OWN_ROWS stand-in rows of the study's own two glasses (copies of authors'
    rows, with a barrier from a smooth function of d and pr on the double wells): the size and shape of the
    default study's training table in its last round, not its content."""
    a = authors_table()
    rng = np.random.default_rng(seed)
    own = a.sample(OWN_ROWS, random_state=seed).reset_index(drop=True)
    own[C.GLASS] = np.where(np.arange(OWN_ROWS) % 2 == 0, "g000", "g001")
    dw = own[C.IS_DW] == 1
    barrier = 10 ** (-1.0 + 1.2 * np.log10(own[C.D]) - 0.5 * np.log10(own[C.PR]) + 0.1 * rng.normal(size=OWN_ROWS))
    own[C.BARRIER] = np.where(dw, barrier, np.nan)
    return pd.concat([a, own], ignore_index=True)


def study_config(task: str, budget: float | None, threads: int) -> dict:
    """The default study's learn config of a task (loop.run.learn_config on config/config.yaml)."""
    return {"time_budget": budget, "n_threads": threads, "seed": STUDY_SEED,
            "n_layers": 1 if task == "dw" else 2}


def default_lightgbm(data, train, test, kind: str, threads: int) -> np.ndarray:
    """A LightGBM with the library's defaults, fit on the training rows (with the task's weights)."""
    import lightgbm as lgb

    w = None if data.w is None else data.w[train]
    if kind == "classify":
        m = lgb.LGBMClassifier(n_jobs=threads, verbose=-1, random_state=0).fit(data.X[train], data.y[train], sample_weight=w)
        return m.predict_proba(data.X[test])[:, 1]
    m = lgb.LGBMRegressor(n_jobs=threads, verbose=-1, random_state=0).fit(data.X[train], data.y[train], sample_weight=w)
    return m.predict(data.X[test])


def scores(args) -> None:
    from tlspipe.learn.evaluate import classification_metrics, regression_metrics

    authors = authors_table()
    tables = {
        "dw": (authors, STUDY_FEATURES, ""),
        "qs": (authors[(authors[C.IS_DW] == 1) & authors[C.E_QS].notna()], STUDY_FEATURES, ""),
        "barrier": (synthetic_pairs(6000, 60), C.feature_columns(3), " synthetic"),
    }
    for split in args.splits:
        print(f"split_seed: {split} 1")
        for task in args.tasks:
            df, feats, note = tables[task]
            spec = get_spec(task)
            t0 = time.perf_counter()
            res = evaluate(df, task, study_config(task, args.budget, args.train_threads), features=feats, seed=split)
            metrics = (("accuracy", "accuracy", max), ("log_loss", "log_loss", min)) if spec.kind == "classify" \
                else (("pearson_log", "pearson_r", max), ("weighted_mse", "weighted_mse", min))
            data = prepare(df, spec, feats)
            tr, te = holdout_split(data.groups, 0.2, split)
            p = default_lightgbm(data, tr, te, spec.kind, args.train_threads)
            if spec.kind == "classify":
                lgbm = classification_metrics(data.y[te], p)
            else:
                lgbm = regression_metrics(data.y[te], p, data.w[te] / data.w[te].mean() if data.w is not None else None,
                                          spec.log_target)
            for name, key, better in metrics:
                member = {k: v[key] for k, v in res["members"].items()}
                best = better(member, key=member.get)
                print(f"stack_{task}_{name}: {res['stack'][key]:.4f} 1{note}")
                print(f"best_member_{task}_{name}: {member[best]:.4f} 1 ({best}){note}")
                print(f"lightgbm_{task}_{name}: {lgbm[key]:.4f} 1{note}")
                print(f"members_{task}_{name}: {' '.join(f'{k}={v:.4f}' for k, v in member.items())} 1{note}")
            sel = res.get("selection") or {}
            print(f"{task}_stack_choice: {sel.get('chosen', 'ensemble')} ({'fallback' if sel.get('fallback') else 'no fallback'})")
            # the inner-CV (selection) loss of every choice, lowest first, next to the held-out scores above
            cvl = sel.get("cv_loss") or {}
            print(f"{task}_cv_{sel.get('loss', 'loss')}: "
                  + " ".join(f"{k.replace(' ', '_')}={v:.4f}+-{(sel.get('cv_se') or {}).get(k, 0.0):.2g}"
                             for k, v in sorted(cvl.items(), key=lambda kv: kv[1])) + " 1 (+- one standard error of the difference to the lowest)")
            print(f"{task}_stack_weights: {' '.join(f'{k}={v:.2f}' for k, v in res['weights'].items())} 1")
            print(f"{task}_stack_fit_seconds: {res['fit_seconds']:.1f} s")
            print(f"{task}_evaluate_seconds: {time.perf_counter() - t0:.1f} s")


def _models(table: pd.DataFrame, tasks, args) -> tuple[dict, dict, dict]:
    models, seconds, cpu = {}, {}, {}
    for task in tasks:
        df = table
        if task != "dw":
            target = C.E_QS if task == "qs" else C.BARRIER
            df = table[(table[C.IS_DW] == 1) & np.isfinite(table[target].astype(float))]
        t0, c0 = time.perf_counter(), time.process_time()
        models[task] = train_task(df, task, study_config(task, args.budget, args.train_threads), features=STUDY_FEATURES)
        seconds[task], cpu[task] = time.perf_counter() - t0, time.process_time() - c0
    return models, seconds, cpu


def train(args) -> None:
    table = study_sized_table()
    print(f"train_table_rows: {len(table)} pairs ({OWN_ROWS} of the study's own, stand-in)")
    models, seconds, cpu = _models(table, ("dw", "qs", "barrier"), args)
    for task, s in seconds.items():
        print(f"train_{task}_seconds: {s:.1f} s")
        # CPU seconds of the process (one training thread): what the wall clock is on an unloaded core
        print(f"train_{task}_cpu_seconds: {cpu[task]:.1f} s")
        print(f"train_{task}_weights: {' '.join(f'{k}={v:.2f}' for k, v in models[task].weights.items())} 1")
    print(f"train_round_seconds: {sum(seconds.values()):.1f} s")
    print(f"train_round_cpu_seconds: {sum(cpu.values()):.1f} s")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} 1")


def shap(args) -> None:
    from tlspipe.figures.fig5 import shap_ranking

    table = study_sized_table()
    models, _, _ = _models(table, ("dw", "qs"), args)
    for task, model in models.items():
        print(f"shap_{task}_model_weights: {' '.join(f'{k}={v:.2f}' for k, v in model.weights.items())} 1")
    total = total_cpu = 0.0
    for task, model in models.items():
        rankings = {}
        for label, n in (("sample", args.shap_rows), ("full", args.shap_full_rows)):
            sample = table.sample(n=min(n, len(table)), random_state=STUDY_SEED)
            t0, c0 = time.perf_counter(), time.process_time()
            sv = shap_values(model, sample)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            total += dt if label == "sample" else 0.0
            total_cpu += cpu if label == "sample" else 0.0
            rankings[label] = shap_ranking(sv.assign(**{f"value_{c}": 0.0 for c in sv.columns}))
            a = sv.abs()
            print(f"shap_{task}_{label}_seconds: {dt:.1f} s ({len(sample)} pairs)")
            print(f"shap_{task}_{label}_cpu_seconds: {cpu:.1f} s")
            print(f"shap_{task}_{label}_ranking: {' > '.join(rankings[label])}")
            # mean |SHAP| (Fig. 5's order) and its standard error over the sample
            print(f"shap_{task}_{label}_mean_abs: "
                  + " ".join(f"{f}={a[f].mean():.4g}+-{a[f].std() / np.sqrt(len(a)):.2g}" for f in rankings[label]))
        same = rankings["sample"] == rankings["full"]
        top = next((i for i, (a, b) in enumerate(zip(rankings["sample"], rankings["full"])) if a != b),
                   len(rankings["full"]))
        print(f"shap_{task}_ranking_equal: {int(same)} 1 (top {top} of {len(rankings['full'])} the same)")
    print(f"shap_job_model_seconds: {total:.1f} s ({args.shap_rows} pairs per model)")
    print(f"shap_job_model_cpu_seconds: {total_cpu:.1f} s")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} 1")


def _standin_pair_files(root: Path, n_pairs: int, seed: int = 0) -> list[Path]:
    """Two glasses' pair tables of n_pairs in all: authors' feature rows drawn with replacement, in the pair
    step's schema, compression and row groups (tlspipe.pairs.features)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tlspipe.pairs.features import CHUNK_ROWS, WRITE_OPTIONS, output_schema

    a = authors_table()
    rng = np.random.default_rng(seed)
    schema = output_schema(3)
    files = []
    for k, n in enumerate((n_pairs // 2, n_pairs - n_pairs // 2)):
        f = root / f"g{k:03d}.parquet"
        with pq.ParquetWriter(f, schema, **WRITE_OPTIONS) as writer:
            for start in range(0, n, CHUNK_ROWS):
                m = min(CHUNK_ROWS, n - start)
                rows = a.iloc[rng.integers(0, len(a), m)]
                cols = {C.GLASS: np.full(m, f"g{k:03d}"), C.IS_A: np.arange(start, start + m),
                        C.IS_B: np.arange(start, start + m) + 1}
                for name in C.feature_columns(3):
                    cols[name] = rows[name].to_numpy() if name in rows else rng.poisson(2.0, m)
                writer.write_table(pa.table(cols, schema=schema), row_group_size=CHUNK_ROWS)
        files.append(f)
    return files


def shapjob(args) -> None:
    import tempfile

    from tlspipe.learn import save
    from tlspipe.learn.explain import shap_sample
    from tlspipe.learn.rounds import _load_or_none, shap_round
    from tlspipe.loop.run import read_pairs
    from tlspipe.util.io import write_parquet

    def earlier_job(model_dir, files, out, seed, max_rows=SHAP_ROWS):  # the job before it read only its sample
        model = _load_or_none(model_dir)
        sample = shap_sample(read_pairs(files), max_rows, seed)
        df = shap_values(model, sample).reset_index(drop=True)
        for c in model.features:
            df[f"value_{c}"] = sample[c].to_numpy()
        write_parquet(df, out)
        return df

    table = study_sized_table()
    models, _, _ = _models(table, ("dw", "qs"), args)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = _standin_pair_files(root, args.job_pairs)
        print(f"shapjob_pairs: {args.job_pairs} pairs ({len(files)} files)")
        dirs = {}
        for task, model in models.items():
            dirs[task] = root / f"model_{task}"
            save(model, dirs[task])
        times = {"new": [], "earlier": []}
        for r in range(args.ab_rounds):
            for label, job in (("new", shap_round), ("earlier", earlier_job)) if r % 2 == 0 else \
                    (("earlier", earlier_job), ("new", shap_round)):
                t0, c0 = time.perf_counter(), time.process_time()
                out = {t: job(d, files, root / f"shap_{t}_{label}.parquet", STUDY_SEED) for t, d in dirs.items()}
                times[label].append((time.perf_counter() - t0, time.process_time() - c0))
                print(f"shapjob_{label}_round{r}_seconds: {times[label][-1][0]:.1f} s (cpu {times[label][-1][1]:.1f} s)")
            for t in dirs:
                pd.testing.assert_frame_equal(pd.read_parquet(root / f"shap_{t}_new.parquet"),
                                              pd.read_parquet(root / f"shap_{t}_earlier.parquet"))
        # the reading alone (one model's sample), alternated: the job's earlier way against sample_rows
        from tlspipe.learn.rounds import sample_rows

        feats = list(models["qs"].features)
        reads = {"new": [], "earlier": []}
        for r in range(args.ab_rounds):
            for label in ("new", "earlier") if r % 2 == 0 else ("earlier", "new"):
                t0, c0 = time.perf_counter(), time.process_time()
                if label == "new":
                    sample_rows(files, SHAP_ROWS, STUDY_SEED, columns=feats)
                else:
                    shap_sample(read_pairs(files), SHAP_ROWS, STUDY_SEED)
                reads[label].append((time.perf_counter() - t0, time.process_time() - c0))
        for label, v in reads.items():
            print(f"shapjob_{label}_read_seconds: {np.median([a for a, _ in v]):.2f} s "
                  f"(cpu {np.median([b for _, b in v]):.2f} s; median of {len(v)}; one model's sample)")
        for label, v in times.items():
            print(f"shapjob_{label}_seconds: {np.median([a for a, _ in v]):.1f} s (median of {len(v)})")
            print(f"shapjob_{label}_cpu_seconds: {np.median([b for _, b in v]):.1f} s")
        print("shapjob_same_table: 1 1")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} 1")


def inference(args) -> None:
    df = synthetic_pairs(args.rows, args.glasses)
    cfg = {"n_threads": args.train_threads, "time_budget": args.budget}
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="scores,shap,train,inference")
    ap.add_argument("--tasks", default="dw,qs,barrier", help="tasks of the scores section")
    ap.add_argument("--splits", default="0", help="comma-separated split seeds of the scores section")
    ap.add_argument("--budget", type=float, default=600.0, help="learn.time_budget cap of every fit, s (the default study's)")
    ap.add_argument("--shap-rows", type=int, default=SHAP_ROWS, help="pairs of the shap job's sample")
    ap.add_argument("--shap-full-rows", type=int, default=2000, help="pairs of the reference (the job's earlier sample)")
    ap.add_argument("--job-pairs", type=int, default=4_600_000, help="pairs of the shapjob stand-in tables")
    ap.add_argument("--ab-rounds", type=int, default=3, help="alternations of the shapjob A/B")
    ap.add_argument("--rows", type=int, default=20_000, help="rows of the synthetic table (inference)")
    ap.add_argument("--glasses", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="prediction threads")
    ap.add_argument("--train-threads", type=int, default=1, help="training threads")
    ap.add_argument("--predict-rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="only the inference throughput")
    args = ap.parse_args(argv)
    args.splits = [int(s) for s in args.splits.split(",")]
    args.tasks = args.tasks.split(",")
    sections = ["inference"] if args.quick else args.sections.split(",")
    for name in sections:
        {"scores": scores, "shap": shap, "shapjob": shapjob, "train": train, "inference": inference}[name](args)


if __name__ == "__main__":
    main()
