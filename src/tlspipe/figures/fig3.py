"""Figure 3: predicted vs exact quantum splitting (top row) and classical barrier (bottom row), one column
per preparation temperature Tf."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import columns as C
from .common import (PRED_BARRIER, PRED_E_QS, TF, as_bool, energy_scale, log_limits, new_figure, note,
                     panel_letter, positive, read_table, save, tf_colour, tf_text, tf_values)

REQUIRED = [C.GLASS, TF, C.IS_DW, C.E_QS, PRED_E_QS, C.BARRIER, PRED_BARRIER, C.ROUND]


def pearson_log10(exact, predicted) -> float:
    """Pearson r of log10(exact) vs log10(predicted) over rows where both are finite and > 0 (NaN when
    fewer than 2 such rows or one side is constant)."""
    exact, predicted = np.asarray(exact, float), np.asarray(predicted, float)
    ok = positive(exact, predicted)
    x, y = np.log10(exact[ok]), np.log10(predicted[ok])
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy import stats  # deferred: scipy.stats is slow to import

    return float(stats.pearsonr(x, y).statistic)


def fig3(tls, out=None, *, energy_unit: str = "epsilon", rounds: Sequence[int] | None = None):
    """Predicted vs exact E_qs and classical barrier, log-log, one column per Tf (lowest Tf on the left).

    tls: the exact-results table (``results/{study}/tls.parquet``, a path or a DataFrame) with glass, tf,
    is_dw, e_qs, pred_e_qs, barrier, pred_barrier and round.  Only double wells (is_dw) are shown: E_qs and
    the barrier are defined for them only, and the regressors are trained on them.
    energy_unit: 'epsilon' (default) or 'kelvin' (scale e/k_B read from the table's e_qs_kelvin / e_qs).
    rounds: keep only pairs computed in these iterative rounds; e.g. ``[last_round]`` shows pairs the model
    had not been trained on when it predicted them.  Default: every DW with both values.

    The legend of each panel gives the Pearson correlation of log10(exact) and log10(predicted) (the
    regressors work on log10 E_qs, and log axes are what the eye compares), written as
    ``Tf = 0.062: r = 0.934 (n = 120)``.  Returns the Figure; writes ``out`` (and the PDF beside a PNG).
    """
    df = read_table(tls, "tls table", REQUIRED)
    scale, unit = energy_scale(df, energy_unit)
    sel = as_bool(df[C.IS_DW])
    if rounds is not None:
        sel &= df[C.ROUND].isin(list(rounds)).to_numpy()
    df = df[sel]
    tfs = tf_values(df[TF])
    ncol = max(len(tfs), 1)
    fig = new_figure(3.3 * ncol, 6.4)
    axes = fig.subplots(2, ncol, squeeze=False)
    rows = [(C.E_QS, PRED_E_QS, r"$E_\mathrm{qs}$"), (C.BARRIER, PRED_BARRIER, r"barrier $V_b$")]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for r, (col_exact, col_pred, name) in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(f"exact {name} ({unit})")
            ax.set_ylabel(f"predicted {name} ({unit})")
            panel_letter(ax, next(letters))
            if not tfs:
                note(ax, "no double wells in the table")
                continue
            tf = tfs[c]
            sub = df[df[TF] == tf]
            x = sub[col_exact].to_numpy(float) * scale
            y = sub[col_pred].to_numpy(float) * scale
            ok = positive(x, y)
            if r == 0:
                ax.set_title(tf_text(tf))
            if not ok.any():
                note(ax, f"no DW with exact and predicted {name}\nat {tf_text(tf)}")
                continue
            rr = pearson_log10(x, y)
            rtxt = "n/a" if not np.isfinite(rr) else f"{rr:.3f}"
            ax.scatter(x[ok], y[ok], s=6, alpha=0.6, color=tf_colour(tf, tfs), edgecolors="none",
                       label=f"{tf_text(tf)}: r = {rtxt} (n = {int(ok.sum())})", rasterized=True)
            lo, hi = log_limits(x[ok], y[ok])
            ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.8, ls="--", label="_diagonal")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal", adjustable="box")
            ax.legend(loc="upper left", fontsize=7, frameon=False, handletextpad=0.2)
    save(fig, out)
    return fig
