"""Configuration of the stacking ensemble: one plain, JSON-serialisable dict.

``DEFAULTS`` is the single source of the defaults; the workflow's config schema mirrors it and the
constructor of :class:`tlspipe.learn.stack.StackEnsemble` takes exactly these keys.
"""

from __future__ import annotations

import copy
from typing import Any

#: Model kinds the stack knows, in the order they are fitted and stacked.
MEMBER_KINDS = ("catboost", "lightgbm", "xgboost", "extratrees")

DEFAULTS: dict[str, Any] = {
    # model kinds of each layer ("members"); any non-empty subset of MEMBER_KINDS
    "members": list(MEMBER_KINDS),
    # 1: bagged members + weighted ensemble; 2: a second layer fed with features + layer-1 out-of-fold predictions
    "n_layers": 2,
    # k of the k-fold bagging; folds are grouped by glass (a glass never sits on both sides of a fold)
    "n_folds": 5,
    # threads of each library (training and prediction)
    "n_threads": 1,
    # cap on the wall clock of the whole fit (bagging + ensemble + refit), seconds; null = no cap.  Fits stop by
    # early stopping or n_estimators; one that reaches the cap is cut and named in a warning (see stack.py)
    "time_budget": 600.0,
    "seed": 0,
    # boosting rounds without improvement on the early-stopping set before a bagged member stops
    "early_stopping_rounds": 50,
    # fraction of each bag's training groups set aside for early stopping (the held-out fold stays untouched,
    # so out-of-fold predictions, and the ensemble weights fit on them, are honest)
    "early_stopping_fraction": 0.15,
    # final ensemble: "caruana" (greedy selection with replacement) or "nnls"; weights >= 0, sum 1
    "ensemble": "caruana",
    # number of greedy selection steps of the Caruana ensemble (weights are multiples of 1/ensemble_rounds)
    "ensemble_rounds": 100,
    # per-kind hyperparameters; n_estimators is the maximum number of rounds/trees (early stopping and the
    # time budget may use fewer); other keys go to the library unchanged (library-native names)
    "hyperparameters": {
        "catboost": {"n_estimators": 1000, "learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0},
        "lightgbm": {
            "n_estimators": 1000,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
        },
        "xgboost": {
            "n_estimators": 1000,
            "learning_rate": 0.05,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 0.8,
            "colsample_bytree": 0.9,
        },
        # all features per split (with ~11 features the sqrt rule of classifiers leaves 3 and underfits)
        "extratrees": {"n_estimators": 100, "max_features": 1.0, "min_samples_leaf": 2, "max_depth": None},
    },
}

#: Per-task changes to DEFAULTS (applied before the user's config).  The DW classifier runs on every pair of a
#: study, so it is a single-layer stack (as in the paper) of smaller models: learning rate 0.1 (about half the
#: rounds), shallower trees (prediction cost grows with depth), a 50-tree depth-12 ExtraTrees.  This keeps the refit classifier above 2e5 pairs/s
#: on 2 threads (benchmarks/learn.py) at a small cost in accuracy.  The QS and barrier regressors use DEFAULTS.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "dw": {
        "n_layers": 1,
        "hyperparameters": {
            "catboost": {"learning_rate": 0.1},
            "lightgbm": {"learning_rate": 0.1, "num_leaves": 15, "max_depth": 6},
            "xgboost": {"learning_rate": 0.1, "max_depth": 5},
            "extratrees": {"n_estimators": 50, "max_depth": 12, "min_samples_leaf": 5},
        },
    },
    "qs": {},
    "barrier": {},
}


def task_defaults(task: str | None) -> dict[str, Any]:
    """The full default config of a task: DEFAULTS updated by TASK_DEFAULTS[task] (DEFAULTS for other tasks)."""
    return merge_config(task=task)


def merge_config(config: dict[str, Any] | None = None, *, task: str | None = None, **overrides: Any) -> dict[str, Any]:
    """DEFAULTS, then TASK_DEFAULTS[task] (when given), then ``config``, then ``overrides``; hyperparameters
    are merged per kind, so ``{"hyperparameters": {"lightgbm": {"num_leaves": 7}}}`` keeps the other keys.

    Unknown keys raise ValueError naming the key, so a typo in a config file is not silently ignored.
    """
    out = copy.deepcopy(DEFAULTS)
    for source in (TASK_DEFAULTS.get(task or "", {}), config or {}, overrides):
        for key, value in source.items():
            if key not in DEFAULTS:
                raise ValueError(
                    f"unknown learn config key {key!r}; known keys: {', '.join(sorted(DEFAULTS))}"
                )
            if key == "hyperparameters" and value is not None:
                for kind, params in value.items():
                    if kind not in MEMBER_KINDS:
                        raise ValueError(
                            f"unknown model kind {kind!r} in learn hyperparameters; known: {', '.join(MEMBER_KINDS)}"
                        )
                    out["hyperparameters"][kind].update(params or {})
            else:
                out[key] = copy.deepcopy(value)
    validate_config(out)
    return out


def validate_config(cfg: dict[str, Any]) -> None:
    """Raise ValueError naming the offending key when a value is out of range."""
    members = cfg["members"]
    if isinstance(members, str):
        members = [m.strip() for m in members.split(",") if m.strip()]
        cfg["members"] = members
    if not members:
        raise ValueError("learn config 'members' is empty: give at least one of " + ", ".join(MEMBER_KINDS))
    bad = [m for m in members if m not in MEMBER_KINDS]
    if bad:
        raise ValueError(f"learn config 'members': unknown kind(s) {bad}; choose from {', '.join(MEMBER_KINDS)}")
    if len(set(members)) != len(members):
        raise ValueError(f"learn config 'members' lists a kind twice: {members}")
    if cfg["n_layers"] not in (1, 2):
        raise ValueError(f"learn config 'n_layers' must be 1 or 2, got {cfg['n_layers']!r}")
    if int(cfg["n_folds"]) < 2:
        raise ValueError(f"learn config 'n_folds' must be >= 2, got {cfg['n_folds']!r}")
    if int(cfg["n_threads"]) < 1:
        raise ValueError(f"learn config 'n_threads' must be >= 1, got {cfg['n_threads']!r}")
    tb = cfg["time_budget"]
    if tb is not None and not float(tb) > 0:
        raise ValueError(f"learn config 'time_budget' must be > 0 seconds or null, got {tb!r}")
    if cfg["ensemble"] not in ("caruana", "nnls"):
        raise ValueError(f"learn config 'ensemble' must be 'caruana' or 'nnls', got {cfg['ensemble']!r}")
    if int(cfg["ensemble_rounds"]) < 1:
        raise ValueError(f"learn config 'ensemble_rounds' must be >= 1, got {cfg['ensemble_rounds']!r}")
    if not 0 < float(cfg["early_stopping_fraction"]) < 0.5:
        raise ValueError(
            f"learn config 'early_stopping_fraction' must be in (0, 0.5), got {cfg['early_stopping_fraction']!r}"
        )
    if int(cfg["early_stopping_rounds"]) < 1:
        raise ValueError(f"learn config 'early_stopping_rounds' must be >= 1, got {cfg['early_stopping_rounds']!r}")
