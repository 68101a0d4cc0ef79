"""The four model kinds of the stack, behind one small interface.

Every member maps a float feature matrix to one number per row: the probability of class 1 for
``task_kind="classify"``, the (possibly log-transformed) target for ``task_kind="regress"``.  Boosting
members use the libraries' native APIs (``lightgbm.train``, ``xgboost.train``, ``catboost.CatBoost``), are
saved in the library's own format (ExtraTrees as its tree arrays: no member is pickled) and stop on whichever
comes first: ``n_estimators`` rounds, no improvement on the early-stopping rows for ``early_stopping_rounds``
rounds, or the wall-clock ``deadline``.  The deadline is a cap (the end of the whole stack fit's
``time_budget``), not a stopping rule: a fit that ends before it is the same whatever the clock says.
ExtraTrees grows its forest in chunks (``warm_start``; the same trees as one fit) until ``n_estimators`` trees
or the deadline.  At least ``MIN_ROUNDS`` rounds/trees are always built so that a cap already reached still
yields a usable (if weak) model.

Threads: every library gets ``n_threads`` from the config (never a count derived from the machine or its
load); with the settings used here (LightGBM ``deterministic`` and row-wise histograms, XGBoost ``hist``,
CatBoost, scikit-learn's pre-drawn tree seeds) the fitted models do not depend on the thread count (tested).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

MIN_ROUNDS = 10
#: batches at least this large go through the compiled forest (tlspipe.learn.forest) for LightGBM; smaller
#: ones (e.g. out-of-fold predictions during fitting) use the library's predictor.  ExtraTrees always
#: predicts from its tree arrays (see ExtraTreesMember)
COMPILED_MIN_ROWS = 20_000


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def margin_shap_to_probability(phi: np.ndarray, base: float) -> tuple[np.ndarray, float]:
    """Rescale additive log-odds attributions to probability units.

    With margin f = base + sum_j phi_j and p = sigmoid(f), each phi_j is multiplied by
    (sigmoid(f) - sigmoid(base)) / (f - base) (the derivative sigmoid'(base) where f == base), so that
    the rescaled values sum exactly to p - sigmoid(base).  This is the "rescale rule" linearisation of the
    link function: it keeps additivity and sign, but is an approximation of probability-space Shapley values.
    """
    delta = phi.sum(axis=1)
    f = base + delta
    num = _sigmoid(f) - _sigmoid(base)
    small = np.abs(delta) < 1e-12
    sb = _sigmoid(base)
    scale = np.where(small, sb * (1.0 - sb), num / np.where(small, 1.0, delta))
    return phi * scale[:, None], float(sb)


class Member:
    """Base class: fit / predict / shap / save / load of one model."""

    kind = "base"
    ext = ""

    def __init__(self, task_kind: str, params: dict[str, Any] | None = None, n_threads: int = 1, seed: int = 0):
        if task_kind not in ("classify", "regress"):
            raise ValueError(f"task_kind must be 'classify' or 'regress', got {task_kind!r}")
        self.task_kind = task_kind
        self.params = dict(params or {})
        self.n_threads = int(n_threads)
        self.seed = int(seed)
        self.n_rounds_: int = 0  # rounds/trees kept after fitting
        self.stopped_by_time_: bool = False
        self.model: Any = None
        self._compiled = None  # lazily built tlspipe.learn.forest.CompiledForest

    # -- training ---------------------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None = None,
        eval_set: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
        n_rounds: int | None = None,
        deadline: float | None = None,
        early_stopping_rounds: int = 50,
    ) -> "Member":
        """Fit on (X, y, w).  ``eval_set`` enables early stopping; ``n_rounds`` fixes the number of rounds
        (refit); ``deadline`` is an absolute ``time.perf_counter()`` value."""
        raise NotImplementedError

    def _max_rounds(self, n_rounds: int | None) -> int:
        n = int(n_rounds) if n_rounds is not None else int(self.params.get("n_estimators", 100))
        return max(n, 1)

    # -- inference --------------------------------------------------------------------------------------
    def predict(self, X: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def shap(self, X: np.ndarray, n_threads: int | None = None) -> tuple[np.ndarray, float]:
        """Per-feature SHAP values (n, p) and base value, in the member's output units (probability for
        classifiers, target units for regressors).  Additive: phi.sum(1) + base == predict(X).

        Boosting members use the library's own compiled TreeSHAP (:meth:`_native_contributions`: the same
        path-dependent algorithm as ``shap.TreeExplainer``, without converting every tree to Python first,
        which took most of the time for 1000-tree models); :meth:`shap_reference` is the
        ``shap.TreeExplainer`` computation they are tested against."""
        contrib = self._native_contributions(np.ascontiguousarray(X, dtype=np.float64), n_threads)
        if contrib is None:
            return self.shap_reference(X)
        contrib = np.asarray(contrib, dtype=np.float64)
        phi, base = contrib[:, :-1], float(contrib[0, -1]) if len(contrib) else float("nan")
        if self.task_kind == "classify" and self._margin_output:
            phi, base = margin_shap_to_probability(phi, base)
        return np.ascontiguousarray(phi), base

    def _native_contributions(self, X: np.ndarray, n_threads: int | None) -> np.ndarray | None:
        """(n, p + 1) per-feature contributions to the raw (margin) output and, last, the expected value;
        None when the member has no native path."""
        return None

    def shap_reference(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """SHAP values computed by ``shap.TreeExplainer`` (exact path-dependent TreeSHAP), the reference
        of :meth:`shap`."""
        import shap

        expl = shap.TreeExplainer(self.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = expl.shap_values(np.asarray(X, dtype=np.float64))
        base = expl.expected_value
        if isinstance(phi, list):  # older per-class list output
            phi = phi[-1]
            base = np.atleast_1d(base)[-1]
        phi = np.asarray(phi, dtype=np.float64)
        if phi.ndim == 3:  # (n, p, n_classes)
            phi = phi[..., -1]
            base = np.atleast_1d(base)[-1]
        base = float(np.atleast_1d(base)[-1])
        if self.task_kind == "classify" and self._margin_output:
            phi, base = margin_shap_to_probability(phi, base)
        return phi, base

    _margin_output = True  # boosting classifiers explain the log-odds margin

    # -- persistence -------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        raise NotImplementedError

    def load_model(self, path: Path) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_rounds": self.n_rounds_, "stopped_by_time": self.stopped_by_time_}


# --------------------------------------------------------------------------------------------------------
class LightGBMMember(Member):
    kind = "lightgbm"
    ext = "txt"

    def fit(self, X, y, w=None, eval_set=None, n_rounds=None, deadline=None, early_stopping_rounds=50):
        import lightgbm as lgb

        params = {k: v for k, v in self.params.items() if k != "n_estimators"}
        params.update(
            objective="binary" if self.task_kind == "classify" else "regression",
            metric="binary_logloss" if self.task_kind == "classify" else "l2",
            num_threads=self.n_threads,
            seed=self.seed,
            deterministic=True,
            force_row_wise=True,
            verbosity=-1,
        )
        train = lgb.Dataset(X, label=y, weight=w, free_raw_data=True)
        state = {"best": -1, "best_score": np.inf, "stopped_by_time": False}
        use_es = eval_set is not None and n_rounds is None
        valid_sets = []
        if use_es:
            Xv, yv, wv = eval_set
            valid_sets = [lgb.Dataset(Xv, label=yv, weight=wv, reference=train)]

        def _callback(env):
            it = env.iteration  # 0-based
            if use_es:
                score = env.evaluation_result_list[0][2]
                if state["best"] < 0 or score < state["best_score"]:
                    state["best_score"], state["best"] = score, it
                elif it - state["best"] >= early_stopping_rounds:
                    raise lgb.callback.EarlyStopException(state["best"], env.evaluation_result_list)
            else:
                state["best"] = it
            if deadline is not None and it + 1 >= MIN_ROUNDS and time.perf_counter() > deadline:
                state["stopped_by_time"] = True
                raise lgb.callback.EarlyStopException(state["best"], env.evaluation_result_list)

        booster = lgb.train(
            params, train, num_boost_round=self._max_rounds(n_rounds), valid_sets=valid_sets, callbacks=[_callback]
        )
        best = state["best"] + 1 if state["best"] >= 0 else booster.current_iteration()
        # keep only the trees that are used: smaller files, faster inference
        self.model = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.n_rounds_ = int(self.model.current_iteration())
        self.stopped_by_time_ = state["stopped_by_time"]
        self._compiled = None
        return self

    def predict(self, X, n_threads=None):
        nt = int(n_threads or self.n_threads)
        if len(X) >= COMPILED_MIN_ROWS:
            from .forest import compile_lightgbm

            if self._compiled is None:
                self._compiled = compile_lightgbm(self.model)
            raw = self._compiled.predict(X, nt)
            if raw is not None:
                return _sigmoid(raw) if self.task_kind == "classify" else raw
        return self.model.predict(X, num_threads=nt)

    def _native_contributions(self, X, n_threads):
        return self.model.predict(X, pred_contrib=True, num_threads=int(n_threads or self.n_threads))

    def save(self, path):
        self.model.save_model(str(path))

    def load_model(self, path):
        import lightgbm as lgb

        self.model = lgb.Booster(model_file=str(path))
        self.n_rounds_ = int(self.model.current_iteration())
        self._compiled = None


# --------------------------------------------------------------------------------------------------------
class XGBoostMember(Member):
    kind = "xgboost"
    ext = "ubj"

    def fit(self, X, y, w=None, eval_set=None, n_rounds=None, deadline=None, early_stopping_rounds=50):
        import xgboost as xgb

        params = {k: v for k, v in self.params.items() if k != "n_estimators"}
        params.setdefault("tree_method", "hist")
        params.update(
            objective="binary:logistic" if self.task_kind == "classify" else "reg:squarederror",
            eval_metric="logloss" if self.task_kind == "classify" else "rmse",
            nthread=self.n_threads,
            seed=self.seed,
            verbosity=0,
        )
        dtrain = xgb.DMatrix(X, label=y, weight=w, nthread=self.n_threads)
        state = {"stopped_by_time": False}

        class _TimeLimit(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log):
                if deadline is not None and epoch + 1 >= MIN_ROUNDS and time.perf_counter() > deadline:
                    state["stopped_by_time"] = True
                    return True
                return False

        callbacks = [_TimeLimit()]
        evals = []
        use_es = eval_set is not None and n_rounds is None
        if use_es:
            Xv, yv, wv = eval_set
            evals = [(xgb.DMatrix(Xv, label=yv, weight=wv, nthread=self.n_threads), "valid")]
            callbacks.insert(0, xgb.callback.EarlyStopping(rounds=early_stopping_rounds, save_best=True))
        booster = xgb.train(
            params, dtrain, num_boost_round=self._max_rounds(n_rounds), evals=evals, callbacks=callbacks,
            verbose_eval=False,
        )
        n_trees = booster.num_boosted_rounds()
        if use_es and booster.attr("best_iteration") is not None:
            n_trees = min(n_trees, int(booster.attr("best_iteration")) + 1)
            booster = booster[:n_trees]
        self.model = booster
        self.n_rounds_ = int(booster.num_boosted_rounds())
        self.stopped_by_time_ = state["stopped_by_time"]
        return self

    def predict(self, X, n_threads=None):
        self.model.set_param({"nthread": int(n_threads or self.n_threads)})
        return np.asarray(self.model.inplace_predict(np.ascontiguousarray(X)), dtype=np.float64)

    def _native_contributions(self, X, n_threads):
        import xgboost as xgb

        nt = int(n_threads or self.n_threads)
        self.model.set_param({"nthread": nt})
        return self.model.predict(xgb.DMatrix(X, nthread=nt), pred_contribs=True)

    def save(self, path):
        self.model.save_model(str(path))

    def load_model(self, path):
        import xgboost as xgb

        self.model = xgb.Booster(model_file=str(path))
        self.n_rounds_ = int(self.model.num_boosted_rounds())


# --------------------------------------------------------------------------------------------------------
class CatBoostMember(Member):
    kind = "catboost"
    ext = "cbm"

    def _new(self, n_rounds: int):
        import catboost as cb

        params = {k: v for k, v in self.params.items() if k != "n_estimators"}
        params.update(
            iterations=n_rounds,
            loss_function="Logloss" if self.task_kind == "classify" else "RMSE",
            thread_count=self.n_threads,
            random_seed=self.seed,
            verbose=False,
            allow_writing_files=False,
        )
        return cb.CatBoost(params)

    def fit(self, X, y, w=None, eval_set=None, n_rounds=None, deadline=None, early_stopping_rounds=50):
        import catboost as cb

        state = {"stopped_by_time": False}

        class _TimeLimit:
            def after_iteration(self, info):
                if deadline is not None and info.iteration >= MIN_ROUNDS and time.perf_counter() > deadline:
                    state["stopped_by_time"] = True
                    return False
                return True

        model = self._new(self._max_rounds(n_rounds))
        kwargs: dict[str, Any] = {"callbacks": [_TimeLimit()]}
        if eval_set is not None and n_rounds is None:
            Xv, yv, wv = eval_set
            kwargs.update(
                eval_set=cb.Pool(Xv, label=yv, weight=wv),
                early_stopping_rounds=early_stopping_rounds,
                use_best_model=True,
            )
        model.fit(cb.Pool(X, label=y, weight=w), **kwargs)
        self.model = model
        self.n_rounds_ = int(model.tree_count_)
        self.stopped_by_time_ = state["stopped_by_time"]
        return self

    def predict(self, X, n_threads=None):
        raw = self.model.predict(
            np.asarray(X, dtype=np.float32), prediction_type="RawFormulaVal", thread_count=int(n_threads or self.n_threads)
        )
        raw = np.asarray(raw, dtype=np.float64)
        return _sigmoid(raw) if self.task_kind == "classify" else raw

    def _native_contributions(self, X, n_threads):
        import catboost as cb

        return self.model.get_feature_importance(data=cb.Pool(np.asarray(X, dtype=np.float32)), type="ShapValues",
                                                 thread_count=int(n_threads or self.n_threads))

    def save(self, path):
        self.model.save_model(str(path), format="cbm")

    def load_model(self, path):
        import catboost as cb

        self.model = cb.CatBoost()
        self.model.load_model(str(path), format="cbm")
        self.n_rounds_ = int(self.model.tree_count_)


# --------------------------------------------------------------------------------------------------------
class ExtraTreesMember(Member):
    """scikit-learn's ExtraTrees for fitting; predictions and SHAP values come from the forest's tree arrays
    (:class:`tlspipe.learn.forest.ForestArrays`), which are also what is saved (``.npz``, data only): a saved
    and reloaded member predicts the same numbers, and loading never runs code from the file.  Rows holding
    NaN use scikit-learn's own rules while the fitted model is in memory, and are an error after loading."""

    kind = "extratrees"
    ext = "npz"
    _margin_output = False  # a forest explains probabilities directly

    def fit(self, X, y, w=None, eval_set=None, n_rounds=None, deadline=None, early_stopping_rounds=50):
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        params = {k: v for k, v in self.params.items() if k != "n_estimators"}
        if params.get("max_features", "x") is None:
            params.pop("max_features")  # the library's default for the task (sqrt for classifiers, all for regressors)
        cls = ExtraTreesClassifier if self.task_kind == "classify" else ExtraTreesRegressor
        total = self._max_rounds(n_rounds)
        X = np.asarray(X, dtype=np.float32)
        if deadline is None:
            model = cls(n_estimators=total, n_jobs=self.n_threads, random_state=self.seed, **params)
            model.fit(X, y, sample_weight=w)
        else:
            chunk = max(MIN_ROUNDS, total // 10)
            model = cls(n_estimators=0, warm_start=True, n_jobs=self.n_threads, random_state=self.seed, **params)
            while model.n_estimators < total:
                t0 = time.perf_counter()
                model.n_estimators = min(total, model.n_estimators + chunk)
                model.fit(X, y, sample_weight=w)
                now = time.perf_counter()
                if model.n_estimators < total and now + (now - t0) > deadline:
                    self.stopped_by_time_ = True
                    break
            model.warm_start = False
        from .forest import ForestArrays

        self.model = model
        self.arrays = ForestArrays.from_sklearn(model, self.task_kind == "classify")
        self.n_rounds_ = int(len(model.estimators_))
        self._compiled = None
        return self

    def predict(self, X, n_threads=None):
        nt = int(n_threads or self.n_threads)
        if self._compiled is None:
            self._compiled = self.arrays.compile()
        out = self._compiled.predict(X, nt)
        if out is not None:
            return out
        if self.model is None:
            raise ValueError("the features hold NaN: a saved ExtraTrees model has no rule for missing values")
        self.model.n_jobs = nt
        X = np.asarray(X, dtype=np.float32)
        if self.task_kind == "classify":
            return self.model.predict_proba(X)[:, 1]
        return self.model.predict(X)

    def shap(self, X, n_threads=None):
        return self.shap_reference(X)

    def shap_reference(self, X):
        import shap

        expl = shap.TreeExplainer(self.arrays.shap_model())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = expl.shap_values(np.asarray(X, dtype=np.float64))
        return np.asarray(phi, dtype=np.float64), float(np.atleast_1d(expl.expected_value)[0])

    def save(self, path):
        self.arrays.save(path)

    def load_model(self, path):
        from .forest import ForestArrays

        self.arrays = ForestArrays.load(path)
        self.model = None
        self.n_rounds_ = int(self.arrays.n_nodes.size)
        self._compiled = None


# --------------------------------------------------------------------------------------------------------
class ConstantMember(Member):
    """Stands in for a member whose training rows hold one class / one target value (a library would refuse
    or return a degenerate model).  Predicts that value; SHAP values are all zero."""

    kind = "constant"
    ext = "json"

    def fit(self, X, y, w=None, eval_set=None, n_rounds=None, deadline=None, early_stopping_rounds=50):
        self.model = float(np.average(y, weights=w))
        self.n_rounds_ = 0
        return self

    def predict(self, X, n_threads=None):
        return np.full(len(X), self.model, dtype=np.float64)

    def shap(self, X, n_threads=None):
        return np.zeros(np.shape(X), dtype=np.float64), float(self.model)

    shap_reference = shap

    def save(self, path):
        Path(path).write_text(json.dumps({"value": self.model}))

    def load_model(self, path):
        self.model = float(json.loads(Path(path).read_text())["value"])


MEMBER_CLASSES: dict[str, type[Member]] = {
    c.kind: c for c in (CatBoostMember, LightGBMMember, XGBoostMember, ExtraTreesMember, ConstantMember)
}


def make_member(kind: str, task_kind: str, params: dict | None = None, n_threads: int = 1, seed: int = 0) -> Member:
    try:
        cls = MEMBER_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(MEMBER_CLASSES)}") from None
    return cls(task_kind, params, n_threads, seed)
