"""Figure 6: distributions of pair properties for all pairs, double wells and TLS at one Tf:
(a) T_ab + T_ba, (b) ΔE, (c) Δr_1, (d) d, (e) Δ0 (WKB, exact calculations only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import columns as C
from .common import (TF, as_bool, glass_tf_map, new_figure, note, panel_letter, positive, read_table, save,
                     tf_text, tls_mask)

DR1 = C.dr_columns(1)[0]
PAIR_COLUMNS = [C.GLASS, C.T_AB, C.T_BA, C.DELTA_E, DR1, C.D]
TLS_COLUMNS = [C.GLASS, TF, C.IS_DW, C.IS_TLS, C.E_QS, C.T_AB, C.T_BA, C.DELTA_E, DR1, C.D, C.DELTA0]
SETS = (("all pairs", "0.45", "o"), ("DW", "#1f78b4", "s"), ("TLS", "#e31a1c", "^"))

# (column or 'tsum', axis label with unit, density label, x scale, bins kind)
PANELS = [
    ("tsum", r"$T_{\alpha\beta} + T_{\beta\alpha}$ (count)", r"$P(T_{\alpha\beta}+T_{\beta\alpha})$ (count$^{-1}$)",
     "linear", "int"),
    (C.DELTA_E, r"$\Delta E$ (ε)", r"$P(\Delta E)$ (ε$^{-1}$)", "log", "log"),
    (DR1, r"$\Delta r_1$ (σ)", r"$P(\Delta r_1)$ (σ$^{-1}$)", "linear", "lin"),
    (C.D, r"$d$ (σ)", r"$P(d)$ (σ$^{-1}$)", "linear", "lin"),
    (C.DELTA0, r"$\Delta_0$ (ε)", r"$P(\Delta_0)$ (ε$^{-1}$)", "log", "log"),
]


def density_curve(values, edges) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, probability density) of ``values`` on ``edges``, normalised over all values given
    (values outside the edges count in the normalisation); empty bins are dropped.  Centres are geometric
    for log-spaced edges."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.array([]), np.array([])
    counts, edges = np.histogram(v, bins=edges)
    width = np.diff(edges)
    dens = counts / (v.size * width)
    log_edges = edges[0] > 0 and np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]), rtol=1e-9)
    centres = np.sqrt(edges[:-1] * edges[1:]) if log_edges else 0.5 * (edges[:-1] + edges[1:])
    keep = counts > 0
    return centres[keep], dens[keep]


def _edges(kind: str, arrays, nbins: int = 30):
    vals = np.concatenate([np.asarray(a, float) for a in arrays]) if arrays else np.array([])
    vals = vals[np.isfinite(vals)]
    if kind == "log":
        vals = vals[vals > 0]
    if vals.size == 0:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    if kind == "int":
        hi_i = int(np.ceil(hi))
        w = max(1, int(np.ceil((hi_i + 1) / 60)))
        return np.arange(0, hi_i + w + 1, w) - 0.5
    if kind == "log":
        if hi <= lo:
            lo, hi = lo / 2, hi * 2
        return np.logspace(np.log10(lo), np.log10(hi) + 1e-9, nbins + 1)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi + 1e-12 * max(1.0, abs(hi)), nbins + 1)


def _values(df: pd.DataFrame, col: str) -> np.ndarray:
    if col == "tsum":
        return df[C.T_AB].to_numpy(float) + df[C.T_BA].to_numpy(float)
    return df[col].to_numpy(float)


def fig6(pairs, tls, out=None, *, glass_tf=None, tf: float | None = None, tls_threshold: float | None = None,
         nbins: int = 30):
    """Probability densities of T_ab + T_ba, ΔE, Δr_1, d and Δ0 for all pairs, DW and TLS at one Tf.

    pairs: all pairs (``results/{study}/pairs/{glass}.parquet``: a path, a list of paths or a DataFrame);
    only glass, t_ab, t_ba, delta_e, dr_1 and d are read.  tls: the exact-results table.
    glass_tf: glass -> Tf (dict, or DataFrame glass, tf) for the pair tables; completed from a tf column of
    either table.  A pair whose glass has no Tf is an error (dropping it would bias "all pairs").
    tf: the preparation temperature shown (default: the lowest, the paper's ultrastable Tf = 0.062).
    tls_threshold: None uses the table's is_tls column; a number (epsilon) recomputes TLS = DW and E_qs < it.

    Each curve is a density normalised over its own set (all pairs / DW / TLS at that Tf), so the curves
    compare shapes: per unit T (count⁻¹), ΔE (ε⁻¹), Δr_1, d (σ⁻¹), Δ0 (ε⁻¹).  Log-spaced bins for ΔE and Δ0
    (non-positive values cannot be shown and are left out), linear bins otherwise, integer bins for T.
    Δ0 exists only for computed DW, so panel (e) has no 'all pairs' curve.  The paper's coloured
    "likely / could be / unlikely" background regions are an interpretation and are not drawn.
    """
    t = read_table(tls, "tls table", TLS_COLUMNS)
    p = read_table(pairs, "pair table", PAIR_COLUMNS)
    gtf = glass_tf_map(glass_tf, t, p)
    if TF in p.columns:
        p_tf = p[TF].to_numpy(float)
    else:
        g = p[C.GLASS].astype(str)
        missing = sorted(set(g) - set(gtf))
        if missing:
            raise ValueError(f"pair table: no Tf known for glass(es) {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}; pass glass_tf (glass -> Tf), e.g. from "
                             "the study config's glasses")
        p_tf = g.map(gtf).to_numpy(float)
    all_tf = sorted(set(np.unique(p_tf[np.isfinite(p_tf)]).tolist()) | set(t[TF].dropna().astype(float)))
    if tf is None and all_tf:
        tf = all_tf[0]
    fig = new_figure(11.0, 6.6)
    gs = fig.add_gridspec(2, 3)
    axes = [fig.add_subplot(gs[i // 3, i % 3]) for i in range(5)]
    if tf is None:
        sets = {name: pd.DataFrame(columns=TLS_COLUMNS) for name, _, _ in SETS}
        fig.suptitle("no pairs", fontsize=10)
    else:
        fig.suptitle(f"pairs, double wells and TLS at {tf_text(tf)}", fontsize=10)
        ta = t[np.isclose(t[TF].to_numpy(float), tf)]
        sets = {"all pairs": p[np.isclose(p_tf, tf)], "DW": ta[as_bool(ta[C.IS_DW])],
                "TLS": ta[tls_mask(ta, tls_threshold)]}
    for ax, (col, xlabel, ylabel, xscale, kind), letter in zip(axes, PANELS, "abcde"):
        panel_letter(ax, letter)
        ax.set_xscale(xscale)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        present = [(name, colr, mk) for name, colr, mk in SETS
                   if not (col == C.DELTA0 and name == "all pairs")]
        vals = {name: _values(sets[name], col) for name, _, _ in present}
        if kind == "log":
            vals = {k: v[positive(v)] for k, v in vals.items()}
        edges = _edges(kind, list(vals.values()), nbins)
        empty = []
        for name, colr, mk in present:
            v = vals[name]
            if edges is None or v.size == 0:
                empty.append(name)
                continue
            x, y = density_curve(v, edges)
            ax.plot(x, y, marker=mk, ms=3, lw=1.0, color=colr, label=f"{name} (n = {v.size})")
        if empty:
            msg = "no " + ", no ".join(empty) + (" found" if "TLS" in empty or "DW" in empty else "")
            ax.text(0.5, 0.04, msg, transform=ax.transAxes, ha="center", va="bottom", fontsize=7, color="0.35",
                    gid="tlspipe-note")
        if ax.get_lines():
            ax.legend(fontsize=7, frameon=False)
    save(fig, out)
    return fig
