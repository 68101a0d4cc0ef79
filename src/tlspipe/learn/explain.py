"""SHAP values of the weighted ensemble.

Each refit member is explained with exact path-dependent TreeSHAP: the boosting libraries' own compiled
implementation (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``, CatBoost ``ShapValues``: the values of
``shap.TreeExplainer``, tested equal, without converting each tree to Python first), ``shap.TreeExplainer``
on the tree arrays for ExtraTrees; the ensemble's value for feature j is the ensemble-weighted sum of the
members' values:

    phi_j(x) = sum_c w_c phi_j^(c)(x),   base = sum_c w_c base^(c),   sum_j phi_j + base = ensemble(x).

Output units are the units the ensemble averages in: probability for the DW classifier, the model-space target
(log10 E_qs, log10 barrier) for log-target regressors.  For boosting classifiers, whose trees explain the
log-odds margin, the margin attributions are converted to probability units with the rescale rule
(:func:`tlspipe.learn.members.margin_shap_to_probability`): additivity is kept, the conversion is a
linearisation of the sigmoid and so an approximation.

Two-layer stacks (approximation).  A layer-2 member sees the features x and the layer-1 predictions
p_k(x).  Its attribution to a feature column is kept; its attribution a_k to the stacked input p_k is passed
back to the features in proportion to layer-1 member k's own SHAP values (the rescale / chain rule):

    a_k * phi_j^(k)(x) / sum_i phi_i^(k)(x)

so that it sums to a_k.  Where sum_i phi_i^(k)(x) is ~0 (member k predicts its own base value) the share of
feature j is |phi_j^(k)| / sum_i |phi_i^(k)| (or an equal split when all are zero).  This keeps exact
additivity with respect to the ensemble output but is not the Shapley value of the composed model.

Sample (the ``shap`` job, Fig. 5).  TreeSHAP costs about (trees x leaves x depth^2) per row and member, so a
study's figure explains a seeded sample of pairs, :func:`shap_sample` (``pandas.DataFrame.sample`` with the
study seed), not every pair.  Fig. 5 orders the features by mean |SHAP| over the sample; the ranking from the
job's sample is the ranking from all rows (tested on small data; ``benchmarks/learn.py --sections shap`` prints
both rankings and their times for the default study's models).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stack import candidate_name
from .tasks import TaskModel


def _redistribute(a: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Split a (n,) over the columns of phi (n, p) in proportion to phi (rescale rule) with safe fallbacks."""
    s = phi.sum(axis=1)
    absphi = np.abs(phi)
    abs_s = absphi.sum(axis=1)
    scale_ok = np.abs(s) > 1e-9 * np.maximum(abs_s, 1e-300)
    share = np.empty_like(phi)
    share[scale_ok] = phi[scale_ok] / s[scale_ok, None]
    bad = ~scale_ok
    if bad.any():
        pos = abs_s[bad] > 0
        sb = np.where(pos[:, None], absphi[bad] / np.where(pos, abs_s[bad], 1.0)[:, None], 1.0 / phi.shape[1])
        share[bad] = sb
    return share * a[:, None]


def shap_sample(pairs: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """The pairs a study's SHAP job explains: ``max_rows`` rows drawn without replacement with
    ``pairs.sample(random_state=seed)`` (every row when there are fewer), in the drawn order."""
    return pairs.sample(n=min(int(max_rows), len(pairs)), random_state=seed)


def shap_values(model: TaskModel, X: pd.DataFrame, n_threads: int | None = None) -> pd.DataFrame:
    """Per-feature SHAP values of the ensemble for every row of ``X``.

    Returns a DataFrame with the model's feature columns (X's own columns when X holds just the features) and
    X's index; ``result.attrs["base_value"]`` holds the ensemble base value and ``result.attrs["units"]`` says
    whether values are probabilities or model-space target units.  Rows: ``sum(axis=1) + base_value`` equals
    ``model.predict_model_space(X)`` up to floating point.
    """
    Xm = model.matrix(X)
    stack = model.stack
    n, p = Xm.shape
    weights = stack.weights
    total = np.zeros((n, p))
    base_total = 0.0
    l1_shap: dict[str, tuple[np.ndarray, float]] = {}

    def l1(kind: str) -> tuple[np.ndarray, float]:
        c = candidate_name(1, kind)
        if c not in l1_shap:
            l1_shap[c] = stack.models_[c].shap(Xm, n_threads)
        return l1_shap[c]

    X2 = None
    for c, wc in weights.items():
        member = stack.models_[c]
        if c.startswith("L1_"):
            phi, base = l1(c[3:])
            total += wc * phi
            base_total += wc * base
            continue
        if X2 is None:
            X2 = np.hstack([Xm, stack.layer1_inputs(Xm, n_threads)])
        phi2, base2 = member.shap(X2, n_threads)
        total += wc * phi2[:, :p]
        for k, kind in enumerate(stack.layer1_kinds_):
            total += wc * _redistribute(phi2[:, p + k], l1(kind)[0])
        base_total += wc * base2
    index = X.index if isinstance(X, pd.DataFrame) else None
    out = pd.DataFrame(total, columns=model.features, index=index)
    out.attrs["base_value"] = float(base_total)
    if model.spec.kind == "classify":
        out.attrs["units"] = "probability"
    else:
        out.attrs["units"] = f"log10({model.spec.target})" if model.spec.log_target else model.spec.target
    return out
