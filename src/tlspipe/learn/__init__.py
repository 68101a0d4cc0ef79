"""Machine learning of the TLS search: a hand-built weighted stacking ensemble.

Layer 1: bagged CatBoost, LightGBM, XGBoost and ExtraTrees models (k folds grouped by glass, out-of-fold
predictions kept); layer 2: the same kinds on the features plus the layer-1 out-of-fold predictions; final:
non-negative weights summing to 1, fit on the out-of-fold predictions; then one refit model per needed
(layer, kind) on all rows, with the same weights, for fast prediction (see :mod:`tlspipe.learn.stack`).

Python API used by the iterative loop::

    from tlspipe.learn import train_task, save, load, DEFAULTS
    model = train_task(pairs, task="dw", config={"time_budget": 120, "n_threads": 2})
    p_dw = model.predict(pairs)          # probability of a double well
    qs = train_task(dw_pairs, "qs")       # predictions: E_qs in epsilon
    save(model, "results/model_dw"); model = load("results/model_dw")
"""

from .config import DEFAULTS, MEMBER_KINDS, TASK_DEFAULTS, merge_config, task_defaults
from .evaluate import below_threshold_recall, classification_metrics, evaluate, holdout_split, regression_metrics
from .explain import shap_values
from .persist import load, save
from .stack import StackEnsemble, caruana_weights, grouped_folds, nnls_weights
from .tasks import TASKS, TaskModel, TaskSpec, default_features, train_task

__all__ = [
    "DEFAULTS",
    "MEMBER_KINDS",
    "TASKS",
    "TASK_DEFAULTS",
    "StackEnsemble",
    "TaskModel",
    "TaskSpec",
    "below_threshold_recall",
    "caruana_weights",
    "classification_metrics",
    "default_features",
    "evaluate",
    "grouped_folds",
    "holdout_split",
    "load",
    "merge_config",
    "nnls_weights",
    "regression_metrics",
    "save",
    "shap_values",
    "task_defaults",
    "train_task",
]
