"""``tlspipe learn evaluate|fit|predict``: the stacking ensemble on any table (Parquet, Feather or CSV)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from ..util.io import atomic_path
from .config import DEFAULTS, MEMBER_KINDS

_READERS = {".parquet": pd.read_parquet, ".pq": pd.read_parquet, ".feather": pd.read_feather, ".csv": pd.read_csv}


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unknown table format {path.suffix!r}; use .parquet, .feather or .csv")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table")
    return reader(path)


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise ValueError(f"{path}: unknown output format {path.suffix!r}; use .parquet, .feather or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if suffix in (".parquet", ".pq"):
            df.to_parquet(tmp, index=False)
        elif suffix == ".feather":
            df.reset_index(drop=True).to_feather(tmp)
        else:
            df.to_csv(tmp, index=False)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="input table: .parquet, .feather or .csv")
    p.add_argument("--target", required=True, help="target column")
    p.add_argument("--task", required=True, choices=["classify", "regress"], help="classification (0/1 target) or regression")
    p.add_argument("--group", default=C.GLASS, help=f"column grouping the splits, e.g. the glass (default {C.GLASS!r})")
    p.add_argument("--features", help="comma-separated feature columns (default: every numeric column except target, group, ids "
                        "and exact-path outcomes such as e_qs, e_qs_kelvin, barrier, is_dw)")
    p.add_argument("--weight", choices=["none", "inverse-target"], default="none",
                   help="regression sample weights: inverse-target = 1/target normalised to mean 1 (the paper's E_qs loss)")
    p.add_argument("--log-target", action="store_true", help="regress on log10(target); predictions are returned in target units")
    # default None: a flag overrides --config only when it is given (defaults < config file < flags)
    p.add_argument("--time-budget", type=float, help=f"cap in wall-clock seconds on the whole fit (default {DEFAULTS['time_budget']})")
    p.add_argument("--members", help=f"comma-separated model kinds from {','.join(MEMBER_KINDS)} (default all)")
    p.add_argument("--layers", dest="n_layers", type=int, choices=[1, 2], help=f"stack layers (default {DEFAULTS['n_layers']})")
    p.add_argument("--folds", dest="n_folds", type=int, help=f"bagging folds, grouped (default {DEFAULTS['n_folds']})")
    p.add_argument("--threads", dest="n_threads", type=int, help=f"threads per model (default {DEFAULTS['n_threads']})")
    p.add_argument("--seed", type=int, help=f"seed of the splits and models (default {DEFAULTS['seed']})")
    p.add_argument("--config", help="JSON file with learn config keys (see tlspipe.learn.DEFAULTS); a flag given on "
                                    "the command line overrides the file")


#: flags that set a learn config key (argparse dest = key)
FLAG_KEYS = ("members", "n_layers", "n_folds", "n_threads", "time_budget", "seed")


def _spec_and_config(args, df: pd.DataFrame):
    from .config import merge_config
    from .tasks import TaskSpec, numeric_features

    spec = TaskSpec(
        name=args.task,
        kind=args.task,
        target=args.target,
        log_target=bool(args.log_target),
        weight=None if args.weight == "none" else args.weight,
    )
    if args.target not in df.columns:
        raise ValueError(f"{args.table}: no target column {args.target!r}; columns: {list(df.columns)}")
    if args.group not in df.columns:
        raise ValueError(f"{args.table}: no group column {args.group!r} (set --group); columns: {list(df.columns)}")
    if args.features:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
    else:
        features = numeric_features(df, exclude=[args.target, args.group])
        if not features:
            raise ValueError(f"{args.table}: no numeric feature column besides target/group/ids; pass --features")
    from ..cli import given_flags, read_json_options

    base = read_json_options(args.config, "learn config keys (see tlspipe.learn.DEFAULTS)") if args.config else {}
    try:
        cfg = merge_config(base, **given_flags(args, FLAG_KEYS))  # members "a,b" is split by validate_config
    except ValueError as e:
        if not args.config:
            raise
        raise ValueError(f"{args.config} (or a flag given with it): {e}") from None
    return spec, cfg, features


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    df = read_table(args.table)
    spec, cfg, features = _spec_and_config(args, df)
    res = evaluate(df, spec, cfg, features=features, group=args.group, test_fraction=args.test_fraction,
                   seed=cfg["seed"], threshold=args.threshold)
    res["table"] = str(args.table)
    _print_json(res)
    return 0


def _cmd_fit(args) -> int:
    from .persist import save
    from .tasks import train_task

    df = read_table(args.table)
    spec, cfg, features = _spec_and_config(args, df)
    model = train_task(df, spec, cfg, features=features, group=args.group)
    out = save(model, args.out)
    info = model.stack.fit_info_
    _print_json({
        "model": str(out),
        "task": spec.name,
        "target": spec.target,
        "features": model.features,
        "weights": model.weights,
        "n_rows": model.training["n_rows"],
        "n_groups": model.training["n_groups"],
        "oof_loss": info["oof_loss"],
        "oof_loss_ensemble": info["oof_loss_ensemble"],
        "loss": info["loss"],
        "fit_seconds": info["fit_seconds"],
        "events": info["events"],
    })
    return 0


def _cmd_predict(args) -> int:
    from .persist import load

    model = load(args.model, n_threads=args.threads)
    df = read_table(args.table)
    from .tasks import check_columns

    check_columns(df, model.features, where=str(args.table))
    out = df.copy()
    out["prediction"] = model.predict(df)
    write_table(out, args.out)
    print(f"wrote {len(out)} rows with column 'prediction' ({model.task}: "
          f"{'probability' if model.spec.kind == 'classify' else model.spec.target}) to {args.out}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("learn", help="stacking ensemble: evaluate, fit, predict",
                              description="Weighted stacking ensemble (CatBoost, LightGBM, XGBoost, ExtraTrees).")
    sub = p.add_subparsers(dest="learn_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    ev = sub.add_parser("evaluate", help="grouped hold-out metrics of the stack and of each member (JSON to stdout)")
    _add_common(ev)
    ev.add_argument("--test-fraction", type=float, default=0.2, help="fraction of groups held out (default %(default)s)")
    ev.add_argument("--threshold", type=float,
                    help="regression: report recall of rows with true target below this value (target units); "
                         "classification: probability threshold of the accuracy (default 0.5)")
    ev.set_defaults(func=_cmd_evaluate)

    fi = sub.add_parser("fit", help="train on the whole table and save the refit stack to --out")
    _add_common(fi)
    fi.add_argument("--out", required=True, help="model directory to write")
    fi.set_defaults(func=_cmd_fit)

    pr = sub.add_parser("predict", help="add a 'prediction' column (probability, or target in its units)")
    pr.add_argument("--model", required=True, help="model directory written by `tlspipe learn fit`")
    pr.add_argument("--table", required=True, help="input table: .parquet, .feather or .csv")
    pr.add_argument("--out", required=True, help="output table (.parquet, .feather or .csv): input rows + 'prediction'")
    pr.add_argument("--threads", type=int, default=None, help="prediction threads (default: as saved)")
    pr.set_defaults(func=_cmd_predict)
