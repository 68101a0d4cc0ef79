"""Figure 4: the TLS search.  (a) predicted vs exact E_qs with the confusion quadrants at the TLS threshold,
(b) TLS and DW found vs exact calculations spent, iterative vs standard procedure, with 95% intervals,
(c) cumulative distribution n(E_qs)/E_qs, (d) number of TLS and DW per glass, one panel per Tf."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from .. import columns as C
from .common import (PRED_E_QS, PROCEDURE_BOTH, PROCEDURE_ITERATIVE, PROCEDURE_STANDARD, TF,
                     TLS_THRESHOLD, as_bool, energy_scale, glass_tf_map, log_limits, new_figure, note,
                     panel_letter, positive, read_table, save, tf_colour, tf_text, tf_values, tls_mask)
from .intervals import LEVEL, garwood

REQUIRED = [C.GLASS, TF, C.IS_DW, C.E_QS, PRED_E_QS, C.ROUND, C.PROCEDURE]

#: background of the confusion quadrants (true TLS on the x axis, predicted TLS on the y axis)
QUADRANT_COLOURS = {"TP": "#7fc97f", "FN": "#fdc086", "FP": "#f0e68c", "TN": "#d9d9d9"}


def confusion_counts(exact, predicted, threshold: float) -> dict[str, int]:
    """TP/FN/FP/TN of 'E_qs < threshold' over rows with both values finite and > 0 (same units)."""
    exact, predicted = np.asarray(exact, float), np.asarray(predicted, float)
    ok = positive(exact, predicted)
    t, p = exact[ok] < threshold, predicted[ok] < threshold
    return {"TP": int(np.sum(t & p)), "FN": int(np.sum(t & ~p)), "FP": int(np.sum(~t & p)),
            "TN": int(np.sum(~t & ~p))}


#: columns of :func:`search_counts`
SEARCH_COLUMNS = [TF, C.PROCEDURE, C.ROUND, "calc", "tls", "tls_lo", "tls_hi", "dw", "dw_lo", "dw_hi"]


def search_counts(tls: pd.DataFrame, threshold: float | None = TLS_THRESHOLD, level: float = LEVEL) -> pd.DataFrame:
    """Cumulative exact calculations, TLS and DW found per Tf and procedure, with 95% intervals: the points of
    panel (b).

    The order of the calculations within a round of the loop, and within the standard procedure's batch,
    is arbitrary (a batch is computed as a set of parallel jobs), so counts are given only where they do
    not depend on it: for the iterative procedure at the end of each round (rows with procedure
    'iterative' or 'both' and round >= 0, rounds in order, the pretraining round included), for the
    standard procedure (procedure 'standard' or 'both') only at the end of its batch, one point, with
    round -1.  Every calculation counts, failed ones too.  TLS: DW with E_qs < threshold (epsilon), or the
    is_tls column when threshold is None; DW: is_dw.

    Intervals (tls_lo, tls_hi, dw_lo, dw_hi): the exact Poisson (Garwood) interval of the expected count
    after that many calculations, chi2(a/2; 2k) / 2 to chi2(1 - a/2; 2k + 2) / 2 for k found, a = 1 - level
    (:func:`.intervals.garwood`).  One row per point, columns :data:`SEARCH_COLUMNS`, Tf ascending,
    iterative rows before the standard one.
    """
    proc = tls[C.PROCEDURE].astype(str).to_numpy()
    bad = sorted(set(proc) - {PROCEDURE_ITERATIVE, PROCEDURE_STANDARD, PROCEDURE_BOTH})
    if bad:
        raise ValueError(f"tls table: column {C.PROCEDURE!r} has unknown value(s) {bad}; expected "
                         f"'{PROCEDURE_ITERATIVE}', '{PROCEDURE_STANDARD}' or '{PROCEDURE_BOTH}'")
    is_tls = tls_mask(tls, threshold)
    is_dw = as_bool(tls[C.IS_DW])
    tf = tls[TF].to_numpy(float)
    rnd = tls[C.ROUND].to_numpy()
    rows = []

    def point(t, procedure, r, sel):
        rec = {TF: float(t), C.PROCEDURE: procedure, C.ROUND: int(r), "calc": int(sel.sum())}
        for kind, mask in (("tls", is_tls), ("dw", is_dw)):
            k = int(np.sum(sel & mask))
            rec[kind] = k
            rec[f"{kind}_lo"], rec[f"{kind}_hi"] = garwood(k, level)
        return rec

    for t in tf_values(tf):
        at = tf == t
        it = at & np.isin(proc, [PROCEDURE_ITERATIVE, PROCEDURE_BOTH]) & (rnd >= 0)
        for r in np.unique(rnd[it]):
            rows.append(point(t, PROCEDURE_ITERATIVE, r, it & (rnd <= r)))
        st = at & np.isin(proc, [PROCEDURE_STANDARD, PROCEDURE_BOTH])
        if st.any():
            rows.append(point(t, PROCEDURE_STANDARD, -1, st))
    return pd.DataFrame(rows, columns=SEARCH_COLUMNS)


def fig4(tls, out=None, tls_threshold: float = TLS_THRESHOLD, *, glass_tf=None, n_particles: int | None = None,
         density: float = 1.0, energy_unit: str = "epsilon", tf_confusion: float | None = None,
         recall_levels: Sequence[float] = (1.0, 2.0)):
    """The four panels of the paper's Fig. 4 from the exact-results table.

    tls: ``results/{study}/tls.parquet`` (path or DataFrame) with glass, tf, is_dw, e_qs, pred_e_qs, round,
    procedure.  tls_threshold: TLS when a DW has E_qs below it (epsilon, paper: 0.0015); used for every panel
    here, so the panels agree with the drawn threshold even if the table's is_tls used another value.

    (a) exact (x) vs predicted (y) E_qs of the DW (Tf = tf_confusion, default all Tf), background coloured by
        confusion quadrant, counts in the inset as ``TP: n`` etc.; horizontal dashed lines at
        ``recall_levels`` x threshold give the share of true TLS predicted below the line and, in brackets,
        how many exact calculations that line asks for.
    (b) cumulative TLS and DW found vs exact calculations spent, both procedures, with exact Poisson 95%
        intervals as error bars (the points are :func:`search_counts`): the loop at the end of each round,
        joined by solid lines from (0, 0); the standard procedure at the end of its batch only, joined to
        (0, 0) by a dashed line, the expectation for a random order of its calculations.  TLS filled
        markers, DW open ones; y axis linear below 1 and logarithmic above (symlog), so that zero counts
        stay visible beside DW counts far larger than the TLS ones.
    (c) n(E)/E vs E, with n(E) the number of DW with E_qs <= E per volume: volume = glasses x n_particles /
        density (sigma^3), so n/E is in ε^-1 σ^-3 as the paper's n0; without n_particles, per glass (ε^-1).
    (d) histograms of the number of TLS and DW per glass, highest Tf on top as in the paper.

    glass_tf: glass -> Tf of every glass of the study (dict or DataFrame glass, tf); glasses with no exact
    calculation then count as glasses with 0 TLS in (c) and (d).  Without it, the glasses of the table.
    energy_unit: 'epsilon' or 'kelvin' (energies and the threshold scaled by e_qs_kelvin / e_qs).
    """
    df = read_table(tls, "tls table", REQUIRED)
    scale, unit = energy_scale(df, energy_unit)
    thr = float(tls_threshold)
    if not thr > 0:
        raise ValueError(f"tls_threshold must be > 0 (epsilon), got {tls_threshold}")
    gtf = glass_tf_map(glass_tf, df)
    tfs = tf_values(df[TF], list(gtf.values()))

    fig = new_figure(10.0, 8.0)
    gs = fig.add_gridspec(2, 2)
    ax_a, ax_b, ax_c = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[1, 0])
    n_d = max(len(tfs), 1)
    gs_d = gs[1, 1].subgridspec(n_d, 1, hspace=0.05)
    axes_d = [fig.add_subplot(gs_d[i, 0]) for i in range(n_d)]
    for ax, letter in zip([ax_a, ax_b, ax_c, axes_d[0]], "abcd"):
        panel_letter(ax, letter)

    is_dw = as_bool(df[C.IS_DW])
    _panel_a(ax_a, df[is_dw], thr, scale, unit, tfs, tf_confusion, recall_levels)
    _panel_b(ax_b, df, thr, tfs)
    _panel_c(ax_c, df[is_dw], thr, scale, unit, tfs, gtf, n_particles, density)
    _panel_d(axes_d, df, thr, tfs, gtf)
    save(fig, out)
    return fig


def _panel_a(ax, dw, thr, scale, unit, tfs, tf_confusion, recall_levels):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(rf"exact $E_\mathrm{{qs}}$ ({unit})")
    ax.set_ylabel(rf"predicted $E_\mathrm{{qs}}$ ({unit})")
    if tf_confusion is not None:
        dw = dw[np.isclose(dw[TF].to_numpy(float), tf_confusion)]
        ax.set_title(tf_text(tf_confusion), fontsize=9)
    x = dw[C.E_QS].to_numpy(float) * scale
    y = dw[PRED_E_QS].to_numpy(float) * scale
    ok = positive(x, y)
    t = thr * scale
    if not ok.any():
        note(ax, "no DW with exact and predicted $E_\\mathrm{qs}$")
        return
    lo, hi = log_limits(x[ok], y[ok], [t])
    for name, (x0, x1, y0, y1) in {"TP": (lo, t, lo, t), "FN": (lo, t, t, hi), "FP": (t, hi, lo, t),
                                   "TN": (t, hi, t, hi)}.items():
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=QUADRANT_COLOURS[name], alpha=0.45,
                               edgecolor="none", zorder=0))
    tf_col = dw[TF].to_numpy(float)
    for tf in tfs:
        m = ok & (tf_col == tf)
        if m.any():
            ax.scatter(x[m], y[m], s=5, alpha=0.7, color=tf_colour(tf, tfs), edgecolors="none",
                       label=tf_text(tf), rasterized=True, zorder=2)
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.7, ls=":", zorder=1)
    ax.axvline(t, color="k", lw=0.8)
    ax.axhline(t, color="k", lw=0.8)
    true_tls = ok & (x < t)
    n_true = int(true_tls.sum())
    for level in recall_levels:
        yl = level * t
        below = ok & (y < yl)
        frac = np.sum(below & true_tls) / n_true if n_true else float("nan")
        ax.axhline(yl, color="0.2", lw=0.8, ls="--", zorder=1)
        pct = "n/a" if not np.isfinite(frac) else f"{100 * frac:.1f}%"
        ax.text(lo * 1.2, yl * 1.08, f"{pct} of TLS ({int(below.sum())} calc.)", fontsize=7, va="bottom")
    cc = confusion_counts(x, y, t)
    ax.text(0.98, 0.02, "\n".join(f"{k}: {v}" for k, v in cc.items()), transform=ax.transAxes, ha="right",
            va="bottom", fontsize=7, family="monospace",
            bbox=dict(boxstyle="round", facecolor="white", alpha=0.85, edgecolor="0.6"))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.legend(loc="upper left", fontsize=7, frameon=False, markerscale=2)


def _panel_b(ax, df, thr, tfs):
    ax.set_xlabel("exact calculations (NEB + Schrödinger, count)")
    ax.set_ylabel("TLS and DW found (count)")
    if df.empty:
        note(ax, "no exact calculations")
        return
    pts = search_counts(df, thr)
    drawn = []
    styles = {PROCEDURE_ITERATIVE: ("-", "o"), PROCEDURE_STANDARD: ("--", "s")}
    for (tf, procedure), p in pts.groupby([TF, C.PROCEDURE], sort=True):
        if p["calc"].iloc[-1] == 0:
            continue
        col = tf_colour(tf, tfs)
        ls, marker = styles[procedure]
        x = p["calc"].to_numpy()
        for kind, filled in (("tls", True), ("dw", False)):
            y = p[kind].to_numpy(float)
            err = [y - p[f"{kind}_lo"].to_numpy(float), p[f"{kind}_hi"].to_numpy(float) - y]
            (line,) = ax.plot(np.r_[0, x], np.r_[0.0, y], ls=ls, color=col, lw=1.2 if filled else 0.8,
                              alpha=1.0 if filled else 0.7, label="_nolegend_")
            line.set_gid(f"{tf:g}/{procedure}/{kind}")
            ax.errorbar(x, y, yerr=err, fmt=marker, ms=4, color=col, mfc=col if filled else "white", lw=0.8,
                        capsize=2, label="_nolegend_")
        if tf not in drawn:
            drawn.append(tf)
    if not drawn:
        note(ax, "no iterative or standard calculations")
        return
    ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
    ax.set_xlim(left=0)
    top = float(pts.loc[pts["calc"] > 0, ["tls_hi", "dw_hi"]].to_numpy().max())
    ax.set_ylim(0, 10 * top)  # a decade above the highest interval: room for the legend
    grey = "0.3"
    handles = [Line2D([], [], color=tf_colour(tf, tfs), lw=2, label=tf_text(tf)) for tf in drawn]
    handles += [Line2D([], [], color=grey, ls="-", marker="o", ms=4, label="iterative, end of each round"),
                Line2D([], [], color=grey, ls="--", marker="s", ms=4, label="standard, end of its batch"),
                Line2D([], [], color=grey, ls="none", marker="o", ms=4, label="TLS"),
                Line2D([], [], color=grey, ls="none", marker="o", ms=4, mfc="white", label="DW"),
                Line2D([], [], color=grey, marker="|", ms=8, ls="none", label="95% interval (Poisson)")]
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", ncols=2)


def n_over_e(e_qs, volume: float) -> tuple[np.ndarray, np.ndarray]:
    """(E, n(E)/E) at the sorted E_qs values, n(E) = #{E_qs <= E} / volume; non-positive E dropped."""
    e = np.sort(np.asarray(e_qs, float)[positive(e_qs)])
    n = np.arange(1, e.size + 1) / float(volume)
    return e, n / e


def _panel_c(ax, dw, thr, scale, unit, tfs, gtf, n_particles, density):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(rf"$E_\mathrm{{qs}}$ ({unit})")
    per = f"{unit}$^{{-1}}$ σ$^{{-3}}$" if n_particles else f"{unit}$^{{-1}}$ per glass"
    ax.set_ylabel(rf"$n(E_\mathrm{{qs}})/E_\mathrm{{qs}}$ ({per})")
    drawn = False
    for tf in tfs:
        sub = dw[dw[TF].to_numpy(float) == tf]
        glasses = {g for g, t in gtf.items() if np.isclose(t, tf)} | set(sub[C.GLASS].astype(str))
        if not glasses:
            continue
        vol = len(glasses) * (float(n_particles) / float(density) if n_particles else 1.0)
        e, ne = n_over_e(sub[C.E_QS].to_numpy(float) * scale, vol)
        if e.size:
            ax.step(e, ne, where="post", color=tf_colour(tf, tfs), label=f"{tf_text(tf)} ({len(glasses)} glasses)")
            drawn = True
    if not drawn:
        note(ax, "no DW with $E_\\mathrm{qs}$ > 0")
        return
    ax.axvline(thr * scale, color="k", lw=0.8, ls="--", label="TLS threshold")
    ax.legend(fontsize=7, frameon=False)


def per_glass_counts(df: pd.DataFrame, thr: float | None, glasses: Sequence[str]) -> pd.DataFrame:
    """Number of DW and TLS per glass (index: every glass in ``glasses``, 0 where none)."""
    g = df[C.GLASS].astype(str)
    dw = pd.Series(as_bool(df[C.IS_DW]), index=df.index).groupby(g).sum()
    tl = pd.Series(tls_mask(df, thr), index=df.index).groupby(g).sum()
    idx = pd.Index(sorted(set(glasses)), name=C.GLASS)
    return pd.DataFrame({"dw": dw.reindex(idx, fill_value=0).astype(int),
                         "tls": tl.reindex(idx, fill_value=0).astype(int)})


def _panel_d(axes, df, thr, tfs, gtf):
    if not tfs:
        axes[0].set_xlabel("number per glass (count)")
        axes[0].set_ylabel("glasses (count)")
        note(axes[0], "no glasses")
        return
    for ax, tf in zip(axes, sorted(tfs, reverse=True)):
        sub = df[df[TF].to_numpy(float) == tf]
        glasses = {g for g, t in gtf.items() if np.isclose(t, tf)} | set(sub[C.GLASS].astype(str))
        cnt = per_glass_counts(sub, thr, glasses)
        ax.set_ylabel("glasses (count)", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("number per glass (count)")
        hi = int(max(cnt["dw"].max(), cnt["tls"].max(), 1)) if len(cnt) else 1
        # unit bins up to 100 per glass; wider beyond, but "none" always keeps a bin of its own
        width = max(1, int(np.ceil(hi / 100)))
        bins = np.concatenate([[-0.5], np.arange(0.5, hi + width + 0.5, width)])
        col = tf_colour(tf, tfs)
        ax.hist(cnt["dw"], bins=bins, histtype="step", color="0.35", label="DW")
        ax.hist(cnt["tls"], bins=bins, histtype="bar", rwidth=0.8, alpha=0.6, color=col, label="TLS")
        ax.text(0.98, 0.9, f"{tf_text(tf)}, {len(cnt)} glasses", transform=ax.transAxes, ha="right", va="top",
                fontsize=7)
        ax.legend(fontsize=7, frameon=False, loc="center right")
        if int(cnt["tls"].sum()) == 0:
            ax.text(0.98, 0.55, "no TLS found", transform=ax.transAxes, ha="right", fontsize=7, color="0.35")
    for ax in axes[:-1]:
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    xmax = max(ax.get_xlim()[1] for ax in axes)
    for ax in axes:
        ax.set_xlim(-0.5, xmax)
