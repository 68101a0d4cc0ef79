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


#: the node arrays of a tree ensemble kept by :class:`ForestArrays` (all trees concatenated)
FOREST_FIELDS = ("n_nodes", "feature", "threshold", "left", "right", "value", "weight")


@dataclass
class ForestArrays:
    """The trees of a scikit-learn forest as plain arrays (the data-only saved form of an ExtraTrees member).

    n_nodes (n_trees,): nodes per tree; per node, all trees concatenated in the library's order (a parent
    before its children): feature, threshold, left/right (child index within its tree, -1 at a leaf), value
    (P(class 1) or the mean target; a tree's output is its leaf's value, the forest's the mean over trees) and
    weight (weighted training samples reaching the node, for SHAP).
    """

    n_nodes: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    weight: np.ndarray
    n_features: int

    @classmethod
    def from_sklearn(cls, model, classify: bool) -> "ForestArrays":
        if classify and len(model.classes_) != 2:
            raise ValueError("only binary classifiers can be compiled")
        parts = {k: [] for k in FOREST_FIELDS}
        for est in model.estimators_:
            tr = est.tree_
            v = tr.value[:, 0, :]
            parts["n_nodes"].append(tr.node_count)
            parts["feature"].append(tr.feature)
            parts["threshold"].append(tr.threshold)
            parts["left"].append(tr.children_left)
            parts["right"].append(tr.children_right)
            parts["value"].append(v[:, 1] / v.sum(axis=1) if classify else v[:, 0])
            parts["weight"].append(tr.weighted_n_node_samples)
        arr = {k: np.asarray(parts[k], np.int64) if k == "n_nodes" else np.concatenate(parts[k]) for k in parts}
        return cls(**arr, n_features=int(model.n_features_in_))

    def trees(self):
        """(feature, threshold, left, right, value, weight) of each tree."""
        ends = np.cumsum(self.n_nodes)
        for s, e in zip(ends - self.n_nodes, ends):
            yield (self.feature[s:e], self.threshold[s:e], self.left[s:e], self.right[s:e], self.value[s:e],
                   self.weight[s:e])

    def compile(self) -> CompiledForest:
        return CompiledForest.from_trees((t[:5] for t in self.trees()), self.n_features,
                                         scale=1.0 / len(self.n_nodes), float32_inputs=True)

    def shap_model(self) -> dict:
        """The forest in the custom-model form of ``shap.TreeExplainer`` (float32 inputs, as scikit-learn)."""
        scale = 1.0 / len(self.n_nodes)
        trees = [{"children_left": l, "children_right": r, "children_default": l, "features": f,
                  "thresholds": t, "values": (v * scale)[:, None], "node_sample_weight": w}
                 for f, t, l, r, v, w in self.trees()]
        return {"trees": trees, "base_offset": 0.0, "input_dtype": np.float32, "tree_output": "raw_value",
                "objective": "squared_error"}

    def save(self, path) -> None:
        with open(path, "wb") as fh:  # np.savez would add ".npz" to a name without it
            np.savez(fh, n_features=np.int64(self.n_features), **{k: getattr(self, k) for k in FOREST_FIELDS})

    @classmethod
    def load(cls, path) -> "ForestArrays":
        """Read and validate (data only: no pickle; every index in range, so the unchecked kernel is safe)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arr = {k: z[k] for k in (*FOREST_FIELDS, "n_features")}
        except (ValueError, KeyError, OSError) as e:
            raise ValueError(f"{path}: not a tlspipe forest file ({e}); retrain the model") from None
        n_features = int(arr.pop("n_features"))
        f = cls(**arr, n_features=n_features)
        f._check(path)
        return f

    def _check(self, path):
        def bad(what):
            raise ValueError(f"{path}: invalid forest ({what}); the file is damaged - retrain the model")

        n = self.n_nodes
        if n.ndim != 1 or n.size == 0 or np.any(n < 1):
            bad("node counts")
        total = int(n.sum())
        for k in FOREST_FIELDS[1:]:
            if getattr(self, k).shape != (total,):
                bad(f"'{k}' does not hold one entry per node")
        idx = np.arange(total) - np.repeat(np.cumsum(n) - n, n)  # node index within its tree
        size = np.repeat(n, n)
        leaf = self.left < 0
        if np.any((self.right < 0) != leaf) or np.any(leaf & ((self.left != -1) | (self.right != -1))):
            bad("a node with one child")
        inner = ~leaf
        for child in (self.left, self.right):
            if np.any((child[inner] <= idx[inner]) | (child[inner] >= size[inner])):
                bad("a child index out of its tree")
        if np.any((self.feature[inner] < 0) | (self.feature[inner] >= self.n_features)):
            bad("a feature index out of range")
        if not (np.all(np.isfinite(self.value)) and np.all(np.isfinite(self.threshold[inner]))):
            bad("non-finite values or thresholds")


def compile_sklearn_forest(model, classify: bool) -> CompiledForest:
    """A fitted scikit-learn forest (ExtraTrees/RandomForest) as a CompiledForest of P(class 1) or the mean."""
    return ForestArrays.from_sklearn(model, classify).compile()
