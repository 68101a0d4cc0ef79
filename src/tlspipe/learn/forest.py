"""Fast batch inference for LightGBM and scikit-learn tree ensembles (numba).

Why: the DW classifier runs on every pair of a study.  Measured on this project's 2-core machine
(benchmarks/learn.py, 110 trees of 15 leaves), LightGBM's own predictor manages ~1.2e5 rows/s per core and a
50-tree scikit-learn ExtraTrees ~1.7e5 rows/s; the kernel below does ~4e5 and ~2.5e5.  It walks all rows of a
64-row block through one tree in lock step for a fixed number of levels (leaves point to themselves), which
keeps the tree in cache and turns the data-dependent branch into a select.

Exactness: thresholds, comparisons (``x <= threshold`` goes left, in float64) and the tree-by-tree summation
order are those of the libraries, so results equal theirs to rounding (LightGBM raw scores bit for bit in the
tests; scikit-learn inputs are cast to float32 first, as scikit-learn does).  Rows holding NaN are not handled
here: callers use the library's predictor for any batch with a NaN, so missing-value rules stay the libraries'.
Only numerical splits are supported (tlspipe never declares categorical features); anything else raises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

_BLOCK = 64


@nb.njit(parallel=True, boundscheck=False, cache=True)
def _forest_sum(X, roots, depth, feat, thr, left, right, val):  # pragma: no cover - compiled
    n = X.shape[0]
    out = np.zeros(n)
    n_trees = roots.shape[0]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in nb.prange(n_blocks):
        i0 = b * _BLOCK
        m = min(n, i0 + _BLOCK) - i0
        k = np.empty(_BLOCK, np.int64)
        acc = np.zeros(_BLOCK)
        for t in range(n_trees):
            r = roots[t]
            for j in range(m):
                k[j] = r
            for _ in range(depth[t]):
                for j in range(m):
                    kk = k[j]
                    k[j] = left[kk] if X[i0 + j, feat[kk]] <= thr[kk] else right[kk]
            for j in range(m):
                acc[j] += val[k[j]]
        for j in range(m):
            out[i0 + j] = acc[j]
    return out


def _tree_depth(left: np.ndarray, right: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    for i in range(len(left)):  # parents precede children in both libraries' node orders
        if left[i] >= 0:
            depth[left[i]] = depth[i] + 1
            depth[right[i]] = depth[i] + 1
    return int(depth.max())


@dataclass
class CompiledForest:
    """All trees of an ensemble in flat arrays; prediction = scale * sum_t leaf_t(x) + base."""

    roots: np.ndarray
    depth: np.ndarray
    feat: np.ndarray
    thr: np.ndarray
    left: np.ndarray
    right: np.ndarray
    val: np.ndarray
    n_features: int
    scale: float = 1.0
    base: float = 0.0
    float32_inputs: bool = False  # scikit-learn compares float32-cast inputs

    @classmethod
    def from_trees(cls, trees, n_features: int, **kw) -> "CompiledForest":
        """trees: iterable of (feature, threshold, left, right, value) node arrays of one tree each, with
        left/right = -1 at leaves and node 0 the root."""
        roots, depth, F, T, L, R, V = [], [], [], [], [], [], []
        off = 0
        for f, t, l, r, v in trees:
            l = np.asarray(l, dtype=np.int64)
            r = np.asarray(r, dtype=np.int64)
            leaf = l < 0
            idx = np.arange(len(l))
            roots.append(off)
            depth.append(_tree_depth(l, r))
            F.append(np.where(leaf, 0, f))
            T.append(np.where(leaf, np.inf, t))
            L.append(np.where(leaf, idx, l) + off)  # a leaf points to itself
            R.append(np.where(leaf, idx, r) + off)
            V.append(np.asarray(v, dtype=np.float64))
            off += len(l)
        c = np.concatenate
        return cls(
            np.asarray(roots, np.int64), np.asarray(depth, np.int64), c(F).astype(np.int64), c(T).astype(np.float64),
            c(L).astype(np.int64), c(R).astype(np.int64), c(V), int(n_features), **kw,
        )

    def predict(self, X: np.ndarray, n_threads: int = 1) -> np.ndarray | None:
        """scale * sum of leaf values + base per row, or None when X holds NaN (use the library then)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} feature columns, got shape {X.shape}")
        if self.float32_inputs:
            X = X.astype(np.float32).astype(np.float64)
        X = np.ascontiguousarray(X, dtype=np.float64)
        if np.isnan(X).any():
            return None
        old = nb.get_num_threads()
        nb.set_num_threads(max(1, min(int(n_threads), nb.config.NUMBA_NUM_THREADS)))
        try:
            s = _forest_sum(X, self.roots, self.depth, self.feat, self.thr, self.left, self.right, self.val)
        finally:
            nb.set_num_threads(old)
        if self.scale != 1.0:
            s *= self.scale
        if self.base != 0.0:
            s += self.base
        return s


def compile_lightgbm(booster) -> CompiledForest:
    """A LightGBM Booster (numerical splits, one output) as a CompiledForest of its raw score."""
    dump = booster.dump_model()
    if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
        raise ValueError("only single-output LightGBM models can be compiled")
    trees = []
    for info in dump["tree_info"]:
        F, T, L, R, V = [], [], [], [], []

        def walk(node):
            i = len(F)
            F.append(0), T.append(0.0), L.append(-1), R.append(-1), V.append(0.0)
            if "leaf_value" in node or "split_feature" not in node:
                V[i] = float(node.get("leaf_value", 0.0))
                return i
            if node.get("decision_type", "<=") != "<=":
                raise ValueError(f"LightGBM split type {node.get('decision_type')!r} is not supported")
            F[i] = int(node["split_feature"])
            T[i] = float(node["threshold"])
            L[i] = walk(node["left_child"])
            R[i] = walk(node["right_child"])
            return i

        walk(info["tree_structure"])
        trees.append((F, T, L, R, V))
    return CompiledForest.from_trees(trees, int(dump["max_feature_idx"]) + 1)


def compile_sklearn_forest(model, classify: bool) -> CompiledForest:
    """A fitted scikit-learn forest (ExtraTrees/RandomForest) as a CompiledForest of P(class 1) or the mean."""
    trees = []
    pos = None
    if classify:
        classes = list(model.classes_)
        if len(classes) != 2:
            raise ValueError("only binary classifiers can be compiled")
        pos = 1
    for est in model.estimators_:
        tr = est.tree_
        if classify:
            v = tr.value[:, 0, :]
            leaf_val = v[:, pos] / v.sum(axis=1)
        else:
            leaf_val = tr.value[:, 0, 0]
        trees.append((tr.feature, tr.threshold, tr.children_left, tr.children_right, leaf_val))
    return CompiledForest.from_trees(
        trees, int(model.n_features_in_), scale=1.0 / len(model.estimators_), float32_inputs=True
    )
