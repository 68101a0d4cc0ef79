"""Figure 5: SHAP summaries of (a) the quantum-splitting regressor and (b) the double-well classifier.

Input layout (``results/{study}/loop/round_{last}/shap_qs.parquet`` and ``shap_dw.parquet``): one row per
explained pair; for every model feature ``f`` a column ``f`` holding its SHAP value and a column
``value_f`` holding the feature value.  A column counts as a feature exactly when its ``value_`` twin
exists, so ids (glass, is_a, is_b), tf or other bookkeeping columns may be present and are ignored.
SHAP units: for the QS regressor the model-space target, log10(E_qs/ε) (decades); for the DW classifier
the DW probability.  A DataFrame's ``attrs["units"]`` (set by tlspipe.learn.explain) overrides the label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from .common import SHAP_VALUE_PREFIX, feature_label, new_figure, note, panel_letter, read_table, save

#: colour of the feature value: green low, red high (as in the paper)
CMAP = "RdYlGn_r"
QS_UNITS = r"log$_{10}$($E_\mathrm{qs}$/ε)"
DW_UNITS = "DW probability"


def shap_features(shap: pd.DataFrame) -> list[str]:
    """Feature columns of a SHAP table: those with a ``value_`` twin, in table order."""
    cols = set(shap.columns)
    return [c for c in shap.columns if not str(c).startswith(SHAP_VALUE_PREFIX)
            and f"{SHAP_VALUE_PREFIX}{c}" in cols]


def shap_ranking(shap: pd.DataFrame) -> list[str]:
    """Features ordered by decreasing mean |SHAP| (ties: table order)."""
    feats = shap_features(shap)
    if not feats:
        return []
    imp = np.array([np.nanmean(np.abs(shap[f].to_numpy(float))) if len(shap) else 0.0 for f in feats])
    imp = np.nan_to_num(imp, nan=0.0)
    return [feats[i] for i in np.argsort(-imp, kind="stable")]


def _colour_values(v: np.ndarray) -> np.ndarray:
    """Feature values to [0, 1] by the 5-95 percentile range (robust to outliers); NaN stays NaN."""
    fin = np.isfinite(v)
    out = np.full(v.shape, np.nan)
    if not fin.any():
        return out
    lo, hi = np.percentile(v[fin], [5, 95])
    if hi <= lo:
        lo, hi = float(v[fin].min()), float(v[fin].max())
    out[fin] = 0.5 if hi <= lo else np.clip((v[fin] - lo) / (hi - lo), 0.0, 1.0)
    return out


def _swarm_offsets(s: np.ndarray, rng, width: float = 0.4, nbins: int = 60) -> np.ndarray:
    """Vertical offsets that spread points in proportion to the local density of SHAP values."""
    if s.size == 0:
        return s
    if np.ptp(s) == 0:
        return rng.uniform(-width, width, s.size)
    counts, edges = np.histogram(s, bins=nbins)
    k = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, nbins - 1)
    dens = counts[k] / counts.max()
    return rng.uniform(-1.0, 1.0, s.size) * width * dens


def draw_summary(ax, shap: pd.DataFrame, xlabel: str, max_points: int = 5000, seed: int = 0,
                 max_features: int | None = None) -> list[str]:
    """One beeswarm-like SHAP summary on ``ax``; returns the features drawn, top to bottom."""
    rng = np.random.default_rng(seed)
    order = shap_ranking(shap)
    if max_features is not None:
        order = order[:max_features]
    ax.set_xlabel(xlabel)
    ax.set_ylabel("feature (ranked by mean |SHAP|)")
    if not order or len(shap) == 0:
        note(ax, "no SHAP values")
        ax.set_yticks([])
        return []
    rows = np.arange(len(shap))
    if len(rows) > max_points:
        rows = np.sort(rng.choice(rows, size=max_points, replace=False))
    cmap = colormaps[CMAP]
    n = len(order)
    for k, f in enumerate(order):
        y0 = n - 1 - k
        s = shap[f].to_numpy(float)[rows]
        v = _colour_values(shap[SHAP_VALUE_PREFIX + f].to_numpy(float)[rows])
        ok = np.isfinite(s)
        s, v = s[ok], v[ok]
        y = y0 + _swarm_offsets(s, rng)
        col = np.where(np.isfinite(v)[:, None], cmap(np.nan_to_num(v)), (0.6, 0.6, 0.6, 1.0))
        ax.scatter(s, y, c=col, s=4, edgecolors="none", rasterized=True)
    ax.axvline(0.0, color="0.4", lw=0.7)
    ax.set_yticks(range(n))
    ax.set_yticklabels([feature_label(f) for f in reversed(order)])
    ax.set_ylim(-0.6, n - 0.4)
    return order


def fig5(shap_qs, shap_dw, out=None, *, max_points: int = 5000, max_features: int | None = None,
         qs_units: str | None = None, dw_units: str | None = None):
    """SHAP summary plots: (a) QS regressor, (b) DW classifier, features ranked by mean |SHAP| (top: most
    important), each point a pair, horizontal position its SHAP value, colour its feature value (green low,
    red high, scaled per feature between its 5th and 95th percentiles), spread vertically by local density.

    shap_qs, shap_dw: tables in the layout of the module docstring (paths or DataFrames; empty is fine).
    max_points: pairs drawn per panel (a fixed-seed random subset when there are more).
    Drawn with matplotlib directly (not shap.summary_plot) so the axes stay in the caller's hands.
    """
    panels = []
    for obj, what, units, default in ((shap_qs, "SHAP table (QS)", qs_units, QS_UNITS),
                                      (shap_dw, "SHAP table (DW)", dw_units, DW_UNITS)):
        df = read_table(obj, what) if obj is not None else pd.DataFrame()
        if units is None:
            units = _units_from_attrs(df, default)
        panels.append((df, units))
    fig = new_figure(10.0, 4.8)
    axes = fig.subplots(1, 2)
    titles = ["quantum splitting regressor", "double-well classifier"]
    for ax, (df, units), title, letter in zip(axes, panels, titles, "ab"):
        ax.set_title(title, fontsize=10)
        panel_letter(ax, letter)
        draw_summary(ax, df, f"SHAP value ({units})", max_points=max_points, max_features=max_features)
    sm = ScalarMappable(norm=Normalize(0, 1), cmap=CMAP)
    cb = fig.colorbar(sm, ax=list(axes), shrink=0.8, pad=0.01, aspect=30)
    cb.set_ticks([0, 1])
    cb.set_ticklabels(["low", "high"])
    cb.set_label("feature value (own units)")
    save(fig, out)
    return fig


def _units_from_attrs(df: pd.DataFrame, default: str) -> str:
    u = df.attrs.get("units") if hasattr(df, "attrs") else None
    if not u:
        return default
    if u == "probability":
        return DW_UNITS
    if u.startswith("log10(") and u.endswith(")"):
        inner = u[6:-1]
        sym = {"e_qs": r"$E_\mathrm{qs}$", "barrier": "barrier"}.get(inner, inner)
        return rf"log$_{{10}}$({sym}/ε)"
    return str(u)
