"""The learning tasks of the TLS search and the model object the rest of tlspipe uses.

Tasks (``TASKS``), all on the pair features ``columns.feature_columns(M)`` and grouped by ``columns.GLASS``:

- ``"dw"``: classifier, label ``columns.IS_DW`` (bool/0-1) or, when that column is absent,
  ``columns.STATUS == "dw"`` (rows whose status starts with "failed" are dropped).  Prediction: probability
  that the pair is a double well.
- ``"qs"``: regressor on DW rows only, target log10(E_qs / epsilon), sample weights 1/E_qs normalised to mean 1,
  loss = weighted MSE of log10 E_qs (the paper's Eq. 3 applied to the log target).  Prediction: E_qs in epsilon.
- ``"barrier"``: regressor on DW rows only (the barrier is defined for a double well), target log10(barrier /
  epsilon), uniform weights (decision: the paper uses "the same hyperparameters and features" as for E_qs but
  gives no weights for the barrier; the barrier is not the quantity thresholded for TLS).  Prediction: barrier
  in epsilon.

Any other table/target goes through a :class:`TaskSpec` built by hand (the ``tlspipe learn`` CLI does that).
Rows with a missing (NaN) target are dropped before fitting; the number dropped is kept in ``model.training``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import columns as C
from .config import merge_config
from .stack import StackEnsemble


@dataclass(frozen=True)
class TaskSpec:
    """What to learn from a table.

    name: task label stored with the model ("dw", "qs", "barrier", or e.g. "classify"/"regress").
    kind: "classify" (target 0/1 or bool) or "regress".
    target: target column.
    log_target: regress on log10(target) (target must be > 0); predictions are returned as 10**(model output).
    weight: None (uniform) or "inverse-target": w = 1/target (original units), normalised to mean 1.
    rows: "all", or "dw" = only double-well rows (IS_DW true, or STATUS == "dw" when IS_DW is absent).
    """

    name: str
    kind: str
    target: str
    log_target: bool = False
    weight: str | None = None
    rows: str = "all"

    def __post_init__(self):
        if self.kind not in ("classify", "regress"):
            raise ValueError(f"task kind must be 'classify' or 'regress', got {self.kind!r}")
        if self.weight not in (None, "inverse-target"):
            raise ValueError(f"task weight must be None or 'inverse-target', got {self.weight!r}")
        if self.kind == "classify" and (self.log_target or self.weight):
            raise ValueError("a classification task takes neither a log target nor target-derived weights")
        if self.rows not in ("all", "dw"):
            raise ValueError(f"task rows must be 'all' or 'dw', got {self.rows!r}")


TASKS: dict[str, TaskSpec] = {
    "dw": TaskSpec("dw", "classify", C.IS_DW),
    "qs": TaskSpec("qs", "regress", C.E_QS, log_target=True, weight="inverse-target", rows="dw"),
    "barrier": TaskSpec("barrier", "regress", C.BARRIER, log_target=True, weight=None, rows="dw"),
}


def get_spec(task: str | TaskSpec) -> TaskSpec:
    if isinstance(task, TaskSpec):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown learning task {task!r}; choose one of {', '.join(TASKS)}") from None


# --------------------------------------------------------------------------------------------------------
def default_features(df: pd.DataFrame) -> list[str]:
    """The pair features ``feature_columns(M)`` for the largest M whose columns are all in ``df``.

    Raises ValueError naming the missing columns of feature_columns(1) when not even M = 1 is present."""
    m = 0
    while all(c in df.columns for c in C.feature_columns(m + 1)):
        m += 1
    if m == 0:
        missing = [c for c in C.feature_columns(1) if c not in df.columns]
        raise ValueError(
            f"table lacks the pair feature columns {missing}; pass features=[...] explicitly for other tables"
        )
    return C.feature_columns(m)


#: Columns that are outcomes or bookkeeping of the exact path calculation, never model inputs: left out of the
#: default feature list of :func:`numeric_features` (a table holding e_qs and e_qs_kelvin would otherwise
#: "predict" one from the other).  delta_e and d are features and stay.
NOT_FEATURES = [c for c in C.EXACT if c not in (C.DELTA_E, C.D)] + [C.ROUND, C.PROCEDURE, C.IS_DW, C.IS_TLS]


def numeric_features(df: pd.DataFrame, exclude: list[str]) -> list[str]:
    """All numeric (and bool) columns except ``exclude``, the id columns (glass, is_a, is_b) and the
    exact-path outcome/bookkeeping columns ``NOT_FEATURES`` (status, e_qs, e_qs_kelvin, barrier, delta0,
    n_iter, seconds, round, procedure, is_dw, is_tls)."""
    skip = set(exclude) | set(C.IDS) | set(NOT_FEATURES)
    return [c for c in df.columns if c not in skip and (pd.api.types.is_numeric_dtype(df[c]))]


def check_columns(df: pd.DataFrame, features: list[str], where: str = "table") -> None:
    """ValueError naming every missing or non-numeric feature column."""
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where} lacks the model's feature column(s) {missing}; the model was trained on {features}"
        )
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise ValueError(f"{where}: feature column(s) {bad} are not numeric")


def feature_matrix(df: pd.DataFrame, features: list[str], where: str = "table") -> np.ndarray:
    check_columns(df, features, where)
    return np.ascontiguousarray(df[features].to_numpy(dtype=np.float64, na_value=np.nan))


def _dw_mask(df: pd.DataFrame) -> np.ndarray:
    if C.IS_DW in df.columns:
        v = df[C.IS_DW]
        return (v.fillna(False).astype(bool)).to_numpy()
    if C.STATUS in df.columns:
        return (df[C.STATUS] == C.STATUS_DW).to_numpy()
    raise ValueError(f"table has neither {C.IS_DW!r} nor {C.STATUS!r}: cannot tell which pairs are double wells")


@dataclass
class TaskData:
    X: np.ndarray
    y: np.ndarray  # in model space (log10 for log targets)
    w: np.ndarray | None
    groups: np.ndarray
    rows: np.ndarray  # positions in the input table of the rows used
    n_dropped: int


def prepare(df: pd.DataFrame, spec: TaskSpec, features: list[str], group: str | None = C.GLASS) -> TaskData:
    """Rows, X, model-space target, weights and groups of a task; clear errors on bad input."""
    n0 = len(df)
    keep = np.ones(n0, dtype=bool)
    if spec.rows == "dw":
        keep &= _dw_mask(df)
    if spec.kind == "classify":
        if spec.target in df.columns:
            raw = df[spec.target]
        elif spec.target == C.IS_DW and C.STATUS in df.columns:
            status = df[C.STATUS].astype(str)
            raw = (status == C.STATUS_DW).astype(float).where(~status.str.startswith("failed"))
        else:
            raise ValueError(f"table lacks the target column {spec.target!r}")
        if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
            raise ValueError(f"classification target {spec.target!r} must be bool or 0/1, found strings")
        y = raw.astype("float64").to_numpy()
        keep &= np.isfinite(y)
        if not np.all(np.isin(y[keep], (0.0, 1.0))):
            bad = np.unique(y[keep][~np.isin(y[keep], (0.0, 1.0))])[:5]
            raise ValueError(f"classification target {spec.target!r} must be bool or 0/1, found values {bad.tolist()}")
    else:
        if spec.target not in df.columns:
            raise ValueError(f"table lacks the target column {spec.target!r}")
        if not pd.api.types.is_numeric_dtype(df[spec.target]):
            raise ValueError(f"regression target {spec.target!r} is not numeric")
        y = df[spec.target].astype("float64").to_numpy()
        keep &= np.isfinite(y)
        if spec.log_target or spec.weight == "inverse-target":
            nonpos = keep & (y <= 0)
            if nonpos.any():
                raise ValueError(
                    f"target {spec.target!r} has {int(nonpos.sum())} value(s) <= 0, which a log target / 1/target "
                    "weight cannot take; drop them or fit without --log-target/--weight"
                )
    rows = np.flatnonzero(keep)
    if len(rows) < 2:
        raise ValueError(f"task {spec.name!r}: only {len(rows)} usable row(s) in the table (target {spec.target!r})")
    yk = y[rows]
    if spec.kind == "classify" and len(np.unique(yk)) < 2:
        raise ValueError(f"task {spec.name!r}: every labelled row has the same class {yk[0]:g}; need both classes")
    X = feature_matrix(df.iloc[rows], features)
    w = None
    if spec.weight == "inverse-target":
        w = 1.0 / yk
        w = w / w.mean()
    if spec.log_target:
        yk = np.log10(yk)
    if group is None:
        groups = np.zeros(len(rows), dtype=np.int64)
    else:
        if group not in df.columns:
            raise ValueError(f"table lacks the group column {group!r} (pairs are grouped by glass for the splits)")
        groups = df[group].to_numpy()[rows]
    return TaskData(X, yk, w, groups, rows, int(n0 - len(rows)))


def data_hash(X: np.ndarray, y: np.ndarray, w: np.ndarray | None, groups: np.ndarray, features: list[str]) -> str:
    """sha256 of the training data as the model saw it (features, X, model-space y, weights, groups)."""
    h = hashlib.sha256()
    h.update("\x1f".join(features).encode())
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    if w is not None:
        h.update(np.ascontiguousarray(w, dtype=np.float64).tobytes())
    h.update(pd.util.hash_array(np.asarray(groups).astype(str)).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------------
class TaskModel:
    """A fitted stack plus what is needed to use it on a table: task, feature list, target transform.

    ``predict(df)`` returns the DW probability (classification) or the target in its original units
    (10**model output for log targets, e.g. E_qs in epsilon).
    """

    def __init__(self, spec: TaskSpec, features: list[str], stack: StackEnsemble, training: dict[str, Any] | None = None):
        self.spec = spec
        self.features = list(features)
        self.stack = stack
        self.training = dict(training or {})

    @property
    def task(self) -> str:
        return self.spec.name

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        return feature_matrix(df, self.features)

    def predict_model_space(self, X: pd.DataFrame | np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """Ensemble output before back-transformation (probability, or log10 target for log targets)."""
        if isinstance(X, pd.DataFrame):
            X = self.matrix(X)
        elif np.shape(X)[1] != len(self.features):
            raise ValueError(f"array has {np.shape(X)[1]} columns, the model expects {len(self.features)}: {self.features}")
        return self.stack.predict(X, n_threads)

    def to_target_units(self, z: np.ndarray) -> np.ndarray:
        return np.power(10.0, z) if self.spec.log_target else z

    def predict(self, df: pd.DataFrame | np.ndarray, n_threads: int | None = None, batch_size: int = 1_000_000) -> np.ndarray:
        """DW probability or target in original units for every row; large tables go in batches."""
        X = self.matrix(df) if isinstance(df, pd.DataFrame) else np.ascontiguousarray(df, dtype=np.float64)
        if len(X) == 0:
            return np.empty(0)
        if len(X) <= batch_size:
            return self.to_target_units(self.predict_model_space(X, n_threads))
        return np.concatenate(
            [self.to_target_units(self.predict_model_space(X[i : i + batch_size], n_threads))
             for i in range(0, len(X), batch_size)]
        )

    def predict_member(self, kind: str, df: pd.DataFrame | np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """One layer-1 member alone, in target units (for comparisons with the stack)."""
        X = self.matrix(df) if isinstance(df, pd.DataFrame) else np.asarray(df, dtype=np.float64)
        return self.to_target_units(self.stack.predict_member(kind, X, n_threads))

    @property
    def weights(self) -> dict[str, float]:
        return self.stack.weights

    def __repr__(self) -> str:
        w = ", ".join(f"{k}={v:.2f}" for k, v in self.weights.items())
        return f"TaskModel(task={self.task!r}, target={self.spec.target!r}, {len(self.features)} features, weights: {w})"


def train_task(
    df: pd.DataFrame,
    task: str | TaskSpec = "dw",
    config: dict[str, Any] | None = None,
    *,
    features: list[str] | None = None,
    group: str | None = C.GLASS,
    refit_all: bool = False,
) -> TaskModel:
    """Fit the stack for ``task`` ("dw", "qs", "barrier" or a TaskSpec) on a pair table.

    config: keys of :data:`tlspipe.learn.config.DEFAULTS` (missing keys take the defaults).
    features: default :func:`default_features` (the table's feature_columns(M)).
    group: column grouping the folds (default: glass); None = one group.
    """
    spec = get_spec(task)
    cfg = merge_config(config, task=spec.name)
    feats = list(features) if features is not None else default_features(df)
    data = prepare(df, spec, feats, group)
    stack = StackEnsemble(task_kind=spec.kind, refit_all=refit_all, **cfg)
    stack.fit(data.X, data.y, data.w, data.groups)
    training = {
        "sha256": data_hash(data.X, data.y, data.w, data.groups, feats),
        "n_rows": int(len(data.rows)),
        "n_rows_dropped": data.n_dropped,
        "n_groups": int(len(np.unique(data.groups))),
        "group_column": group,
    }
    if spec.kind == "classify":
        training["class_fraction_1"] = float(np.mean(data.y))
    return TaskModel(spec, feats, stack, training)


def spec_to_dict(spec: TaskSpec) -> dict[str, Any]:
    return asdict(spec)
