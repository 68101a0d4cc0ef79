"""Hold-out evaluation of the stack against each of its single members.

The table is split once with sklearn ``GroupShuffleSplit`` by the group column (a glass never sits on both
sides); the stack is fit on the training part with ``refit_all=True`` so that each layer-1 kind also exists as
a single model (bagged on the same folds, then refit on the whole training part with its mean number of rounds:
exactly what a one-member stack would be).  Stack and members are scored on the same hold-out rows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from .. import columns as C
from .config import merge_config
from .tasks import TaskSpec, get_spec, prepare, train_task


def holdout_split(groups: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx) with about ``test_fraction`` of the groups held out; no group on both sides."""
    from sklearn.model_selection import GroupShuffleSplit

    if not 0 < test_fraction < 1:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(
            "a grouped hold-out split needs at least 2 groups (glasses); the table has "
            f"{n_groups}: use a table with more glasses or a finer --group column"
        )
    gss = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(gss.split(np.zeros(len(groups)), groups=groups))
    return train, test


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """accuracy and balanced accuracy of (p >= threshold), ROC-AUC and log-loss of p; y in {0, 1}."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    yhat = (np.asarray(p) >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, yhat)),
        "balanced_accuracy": float(balanced_accuracy_score(y, yhat)) if both else None,
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "threshold": float(threshold),
    }


def below_threshold_recall(y_true: np.ndarray, y_pred: np.ndarray, threshold: float) -> dict[str, Any]:
    """Of the rows with true target < threshold, the fraction predicted < threshold (recall), and of the rows
    predicted < threshold, the fraction truly < threshold (precision).  None where a denominator is 0."""
    t = np.asarray(y_true) < threshold
    q = np.asarray(y_pred) < threshold
    n_t, n_q, both = int(t.sum()), int(q.sum()), int((t & q).sum())
    return {
        "threshold": float(threshold),
        "n_true_below": n_t,
        "n_pred_below": n_q,
        "recall_below_threshold": both / n_t if n_t else None,
        "precision_below_threshold": both / n_q if n_q else None,
    }


def regression_metrics(
    z_true: np.ndarray, z_pred: np.ndarray, w: np.ndarray | None, log_target: bool, threshold: float | None = None
) -> dict[str, Any]:
    """Regression scores.  z_* are model-space values (log10 of the target when log_target).

    r2, pearson_r: on the model-space values (log10 for log targets).  weighted_mse: sum w r^2 / sum w in model
    space with the task's weights (uniform when w is None).  threshold (original target units): see
    :func:`below_threshold_recall`."""
    from scipy.stats import pearsonr
    from sklearn.metrics import r2_score

    z_true = np.asarray(z_true, dtype=np.float64)
    z_pred = np.asarray(z_pred, dtype=np.float64)
    out: dict[str, Any] = {
        "n": int(len(z_true)),
        "space": "log10" if log_target else "linear",
        "r2": float(r2_score(z_true, z_pred)) if len(z_true) > 1 else None,
        "pearson_r": float(pearsonr(z_true, z_pred)[0]) if len(z_true) > 1 and np.std(z_pred) > 0 else None,
        "weighted_mse": float(np.average((z_true - z_pred) ** 2, weights=w)),
        "mse": float(np.mean((z_true - z_pred) ** 2)),
    }
    if threshold is not None:
        yt = np.power(10.0, z_true) if log_target else z_true
        yp = np.power(10.0, z_pred) if log_target else z_pred
        out.update(below_threshold_recall(yt, yp, threshold))
    return out


def evaluate(
    df: pd.DataFrame,
    task: str | TaskSpec,
    config: dict[str, Any] | None = None,
    *,
    features: list[str] | None = None,
    group: str = C.GLASS,
    test_fraction: float = 0.2,
    seed: int = 0,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Fit on a grouped training split, score stack and single members on the held-out groups.

    threshold: classification: decision threshold on the probability (default 0.5); regression: a target
    value in original units for the below-threshold recall (e.g. the TLS threshold 0.0015 epsilon for E_qs).
    """
    spec = get_spec(task)
    cfg = merge_config(config, task=spec.name)
    from .tasks import default_features

    feats = list(features) if features is not None else default_features(df)
    data = prepare(df, spec, feats, group)  # validates the table; rows usable for the task
    train_pos, test_pos = holdout_split(data.groups, test_fraction, seed)
    rows_train = data.rows[train_pos]
    rows_test = data.rows[test_pos]
    t0 = time.perf_counter()
    model = train_task(df.iloc[rows_train], spec, cfg, features=feats, group=group, refit_all=True)
    fit_seconds = time.perf_counter() - t0

    X_test = data.X[test_pos]
    z_test = data.y[test_pos]
    w_test = None if data.w is None else data.w[test_pos] / data.w[test_pos].mean()

    def score(z_pred: np.ndarray) -> dict[str, Any]:
        if spec.kind == "classify":
            return classification_metrics(z_test, z_pred, 0.5 if threshold is None else threshold)
        return regression_metrics(z_test, z_pred, w_test, spec.log_target, threshold)

    t1 = time.perf_counter()
    stack_pred = model.predict_model_space(X_test)
    predict_seconds = time.perf_counter() - t1
    result: dict[str, Any] = {
        "task": spec.name,
        "kind": spec.kind,
        "target": spec.target,
        "log_target": spec.log_target,
        "weight": spec.weight,
        "group": group,
        "features": feats,
        "n_train": int(len(train_pos)),
        "n_test": int(len(test_pos)),
        "groups_train": int(len(np.unique(data.groups[train_pos]))),
        "groups_test": int(len(np.unique(data.groups[test_pos]))),
        "rows_dropped": data.n_dropped,
        "stack": score(stack_pred),
        "members": {},
        "weights": model.weights,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "n_layers_fitted": model.stack.n_layers_,
        "events": model.stack.fit_info_.get("events", []),
        "selection": model.stack.fit_info_.get("selection"),
        "config": cfg,
    }
    for kind in model.stack.layer1_kinds_:
        result["members"][kind] = score(model.stack.predict_member(kind, X_test))
    key, better = ("accuracy", max) if spec.kind == "classify" else ("r2", max)
    scored = {k: v[key] for k, v in result["members"].items() if v.get(key) is not None}
    if scored:
        result["best_member"] = better(scored, key=scored.get)
    return result
