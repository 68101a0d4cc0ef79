"""Figures and tables from tables: checked on the matplotlib objects (labels, scales, data, legend texts) and
against independent computations (scipy.stats.pearsonr, numpy counts, hand-made tables), never pixels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps
from scipy import stats

from tlspipe import columns as C
from tlspipe.figures import caption_path, fig3, fig4, fig5, fig6, table1, table2
from tlspipe.figures.common import SHAP_VALUE_PREFIX, TF, feature_label
from tlspipe.figures.fig4 import search_counts
from tlspipe.figures.fig5 import CMAP
from tlspipe.figures.fig6 import density_curve
from tlspipe.figures.standin import make_tables, write_benchmark_tsv

THR = 0.0015


@pytest.fixture(scope="module")
def tables():
    return make_tables(seed=3)


def texts(fig) -> list[str]:
    """Every text of the figure: axes texts, titles, legends (recursively through all artists)."""
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text)]


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def dw_rows(tls, tf):
    return tls[(tls[TF] == tf) & tls[C.IS_DW].astype(bool)]


# --------------------------------------------------------------------------- stand-in tables
def test_standin_layout_and_determinism(tables):
    tls = tables["tls"]
    need = C.IDS + C.EXACT + C.feature_columns(3) + [C.ROUND, C.PROCEDURE, TF, C.IS_DW, C.IS_TLS,
                                                      "pred_e_qs", "pred_barrier", "pred_dw"]
    assert set(need) <= set(tls.columns)
    assert list(tables["pairs"].columns) == C.IDS + C.feature_columns(3)
    assert set(tls[C.PROCEDURE]) <= {"iterative", "standard", "both"}
    assert (tls.loc[tls[C.PROCEDURE] == "standard", C.ROUND] == -1).all()
    # is_tls consistent with the definition; E_qs log-normal around 1e-2 epsilon
    dw = tls[C.IS_DW]
    assert ((tls[C.E_QS] < THR) & dw).equals(tls[C.IS_TLS])
    med = np.median(tls.loc[dw, C.E_QS])
    assert 1e-3 < med < 5e-2
    for f in C.feature_columns(3):
        assert f in tables["shap_qs"] and SHAP_VALUE_PREFIX + f in tables["shap_qs"]
    again = make_tables(seed=3)
    pd.testing.assert_frame_equal(again["tls"], tls)


def test_captions_exist_without_templating():
    for name in ("fig3", "fig4", "fig5", "fig6", "table1", "table2"):
        text = caption_path(name).read_text()
        assert len(text) > 100 and "{{" not in text and "snakemake" not in text
    with pytest.raises(ValueError, match="no caption"):
        caption_path("fig9")


# --------------------------------------------------------------------------- fig3
def test_fig3_axes_pearson_and_files(tables, tmp_path):
    tls = tables["tls"]
    out = tmp_path / "sub" / "fig3.png"
    fig = fig3(tls, out)
    assert out.is_file() and out.with_suffix(".pdf").is_file()
    tfs = sorted(tls[TF].unique())
    assert len(fig.axes) == 2 * len(tfs)
    for c, tf in enumerate(tfs):
        sub = dw_rows(tls, tf)
        for r, (exact, pred, word) in enumerate([(C.E_QS, "pred_e_qs", "E_"), (C.BARRIER, "pred_barrier", "barrier")]):
            ax = fig.axes[r * len(tfs) + c]
            assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
            assert word in ax.get_xlabel() and "(ε)" in ax.get_xlabel() and "exact" in ax.get_xlabel()
            assert "(ε)" in ax.get_ylabel() and "predicted" in ax.get_ylabel()
            x, y = sub[exact].to_numpy(float), sub[pred].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
            r_ref = stats.pearsonr(np.log10(x[ok]), np.log10(y[ok]))[0]
            (label,) = legend_texts(ax)
            assert f"r = {r_ref:.3f}" in label and f"n = {ok.sum()}" in label and f"{tf:g}" in label
            # the plotted points are exactly these pairs
            xy = ax.collections[0].get_offsets()
            np.testing.assert_allclose(np.sort(xy[:, 0]), np.sort(x[ok]))


def test_fig3_kelvin_and_rounds(tables):
    tls = tables["tls"]
    fig = fig3(tls, energy_unit="kelvin", rounds=[4])
    tfs = sorted(tls[TF].unique())
    ax = fig.axes[0]
    assert "(K)" in ax.get_xlabel() and "(K)" in ax.get_ylabel()
    sub = dw_rows(tls, tfs[0])
    sub = sub[sub[C.ROUND] == 4]
    ok = (sub[C.E_QS] > 0) & (sub["pred_e_qs"] > 0)
    xy = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.sort(xy[:, 0]), np.sort(sub.loc[ok, C.E_QS_K]))  # kelvin column itself
    np.testing.assert_allclose(np.sort(xy[:, 1]), np.sort(sub.loc[ok, "pred_e_qs"] * 479.2), rtol=1e-9)
    assert f"n = {ok.sum()}" in legend_texts(ax)[0]


def test_kelvin_needs_one_preset(tables):
    tls = tables["tls"].copy()
    tls.loc[tls.index[:5], C.E_QS_K] *= 2
    with pytest.raises(ValueError, match="e_qs_kelvin / e_qs differs"):
        fig3(tls, energy_unit="kelvin")


# --------------------------------------------------------------------------- fig4
def test_fig4_panels(tables, tmp_path):
    tls = tables["tls"]
    glass_tf = dict(zip(tables["glasses"][C.GLASS], tables["glasses"][TF]))
    glass_tf["tf0.062_g99"] = 0.062  # a glass without any exact calculation: counts in (c) and (d)
    out = tmp_path / "fig4.png"
    fig = fig4(tls, out, THR, glass_tf=glass_tf, n_particles=1500)
    assert out.is_file() and out.with_suffix(".pdf").is_file()
    tfs = sorted(tls[TF].unique())
    assert len(fig.axes) == 3 + len(tfs)
    ax_a, ax_b, ax_c = fig.axes[:3]

    # (a) confusion counts and recall lines, computed here independently
    assert ax_a.get_xscale() == ax_a.get_yscale() == "log"
    assert "exact" in ax_a.get_xlabel() and "(ε)" in ax_a.get_xlabel() and "(ε)" in ax_a.get_ylabel()
    dw = tls[tls[C.IS_DW]]
    x, y = dw[C.E_QS].to_numpy(), dw["pred_e_qs"].to_numpy()
    ok = (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    tp, fn = np.sum((x < THR) & (y < THR)), np.sum((x < THR) & (y >= THR))
    fp, tn = np.sum((x >= THR) & (y < THR)), np.sum((x >= THR) & (y >= THR))
    assert tp + fn + fp + tn == len(x)
    all_text = texts(fig)
    inset = [t for t in all_text if t.startswith("TP:")]
    assert inset == [f"TP: {tp}\nFN: {fn}\nFP: {fp}\nTN: {tn}"]
    n_true = np.sum(x < THR)
    pct2 = 100 * np.sum((x < THR) & (y < 2 * THR)) / n_true
    assert f"{pct2:.1f}% of TLS ({np.sum(y < 2 * THR)} calc.)" in all_text

    # (b) TLS and DW found vs calculations, per Tf: the loop at the end of each round, the standard procedure
    # at the end of its batch, with Poisson intervals; the plotted data are search_counts'
    assert "calculations" in ax_b.get_xlabel() and "count" in ax_b.get_xlabel() and "count" in ax_b.get_ylabel()
    assert ax_b.get_yscale() == "symlog"
    pts = search_counts(tls, THR)
    check_panel_b(ax_b, pts)
    for tf in tfs:
        at = tls[tls[TF] == tf]
        it = at[at[C.PROCEDURE].isin(["iterative", "both"])]
        st = at[at[C.PROCEDURE].isin(["standard", "both"])]
        p_it = pts[(pts[TF] == tf) & (pts[C.PROCEDURE] == "iterative")]
        assert list(p_it[C.ROUND]) == sorted(it[C.ROUND].unique())  # one point per round
        assert (p_it["calc"].iloc[-1], p_it["tls"].iloc[-1], p_it["dw"].iloc[-1]) == \
            (len(it), it[C.IS_TLS].sum(), it[C.IS_DW].sum())
        p_st = pts[(pts[TF] == tf) & (pts[C.PROCEDURE] == "standard")]
        assert (p_st["calc"].tolist(), p_st["tls"].tolist(), p_st["dw"].tolist()) == \
            ([len(st)], [st[C.IS_TLS].sum()], [st[C.IS_DW].sum()])

    # (c) n(E)/E: smallest E has n = 1 / volume, volume = glasses x N (density 1)
    assert ax_c.get_xscale() == ax_c.get_yscale() == "log"
    assert "σ$^{-3}$" in ax_c.get_ylabel() and "(ε)" in ax_c.get_xlabel()
    for tf in tfs:
        (ln,) = [l for l in ax_c.get_lines() if l.get_label().startswith(f"$T_f$ = {tf:g} (")]
        n_glass = sum(1 for t in glass_tf.values() if t == tf)
        assert f"({n_glass} glasses)" in ln.get_label()
        e = np.sort(dw_rows(tls, tf)[C.E_QS].to_numpy())
        np.testing.assert_allclose(ln.get_xdata(), e)
        np.testing.assert_allclose(ln.get_ydata(), np.arange(1, e.size + 1) / (n_glass * 1500.0) / e)

    # (d) one panel per Tf, highest on top, unit on the bottom x label
    axes_d = fig.axes[3:]
    assert "count" in axes_d[-1].get_xlabel() and all("count" in a.get_ylabel() for a in axes_d)
    assert f"$T_f$ = {max(tfs):g}" in " ".join(t.get_text() for t in axes_d[0].texts)
    assert "$T_f$ = 0.062, 4 glasses" in all_text


def check_panel_b(ax, pts):
    """Panel (b) draws exactly the points of search_counts: lines from (0, 0) through them (gid
    'tf/procedure/kind') and error bars from the Garwood bounds, computed here from scipy.stats.chi2."""
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    bars = set()
    for c in ax.containers:
        for seg in c.lines[2][0].get_segments():
            bars.add((round(seg[0, 0], 9), round(seg[0, 1], 9), round(seg[1, 1], 9)))
    assert len(lines) == 2 * pts.groupby([TF, C.PROCEDURE]).ngroups
    for (tf, proc), p in pts.groupby([TF, C.PROCEDURE]):
        for kind in ("tls", "dw"):
            ln = lines[f"{tf:g}/{proc}/{kind}"]
            np.testing.assert_array_equal(ln.get_xdata(), np.r_[0, p["calc"]])
            np.testing.assert_array_equal(ln.get_ydata(), np.r_[0, p[kind]])
            k = p[kind].to_numpy()
            lo = np.where(k > 0, stats.chi2.ppf(0.025, 2 * k) / 2, 0.0)
            hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2
            np.testing.assert_allclose(p[f"{kind}_lo"], lo, rtol=1e-12)
            np.testing.assert_allclose(p[f"{kind}_hi"], hi, rtol=1e-12)
            for x, a, b in zip(p["calc"], lo, hi):
                assert (round(x, 9), round(a, 9), round(b, 9)) in bars


def test_fig4_b_by_hand(tmp_path):
    # loop: round 0 three calculations (1 DW, no TLS), round 1 two (2 TLS), round 2 one failed; standard: four
    # calculations, one of them the pair the loop computed in round 1 (procedure 'both'), 1 TLS, 3 DW
    rows = [  # procedure, round, is_dw, e_qs
        ("iterative", 0, False, np.nan), ("iterative", 0, True, 0.01), ("iterative", 0, False, np.nan),
        ("iterative", 1, True, 1e-3), ("both", 1, True, 5e-4),
        ("iterative", 2, False, np.nan),
        ("standard", -1, True, 0.02), ("standard", -1, True, 0.03), ("standard", -1, False, np.nan)]
    df = pd.DataFrame(rows, columns=[C.PROCEDURE, C.ROUND, C.IS_DW, C.E_QS])
    df[C.GLASS], df[TF], df["pred_e_qs"] = "g0", 0.07, 0.01
    df[C.IS_TLS] = df[C.IS_DW] & (df[C.E_QS] < THR)
    df[C.STATUS] = np.where(df[C.IS_DW], "dw", "not_dw")
    pts = search_counts(df, THR)
    assert pts[["calc", "tls", "dw"]].values.tolist() == [[3, 0, 1], [5, 2, 3], [6, 2, 3], [4, 1, 3]]
    assert list(pts[C.PROCEDURE]) == ["iterative"] * 3 + ["standard"] and list(pts[C.ROUND]) == [0, 1, 2, -1]
    assert pts["tls_lo"].iloc[0] == 0 and pts["tls_hi"].iloc[0] == pytest.approx(3.6889, abs=1e-4)
    fig = fig4(df, tmp_path / "f.png", THR)
    check_panel_b(fig.axes[1], pts)
    t1 = table1(df).iloc[0]  # the end points are Table I's counts
    assert (t1.calc_iterative_all, t1.tls_iterative, t1.dw_iterative) == (6, 2, 3)
    assert (t1.calc_standard, t1.tls_standard, t1.dw_standard) == (4, 1, 3)


def _finished_study():
    """A finished study's results directory: $TLSPIPE_STUDY_RESULTS, else results/default of this checkout."""
    import os
    from pathlib import Path

    for d in (os.environ.get("TLSPIPE_STUDY_RESULTS"), Path(__file__).resolve().parents[1] / "results/default"):
        if d and (Path(d) / "tls.parquet").is_file():
            return Path(d)
    pytest.skip("no finished study (set TLSPIPE_STUDY_RESULTS to its results directory)")


def test_fig4_b_on_a_finished_study(tmp_path):
    tls = pd.read_parquet(_finished_study() / "tls.parquet")
    fig = fig4(tls, tmp_path / "fig4.png")
    pts = search_counts(tls)
    check_panel_b(fig.axes[1], pts)
    t1 = table1(tls, tls_threshold=THR)
    for tf, r in t1[t1["tf_label"] != "all"].set_index(TF).iterrows():
        end = pts[pts[TF] == tf].groupby(C.PROCEDURE).last()
        assert (end.loc["iterative", "calc"], end.loc["iterative", "tls"], end.loc["iterative", "dw"]) == \
            (r.calc_iterative_all, r.tls_iterative, r.dw_iterative)
        if r.calc_standard:
            assert (end.loc["standard", "calc"], end.loc["standard", "tls"], end.loc["standard", "dw"]) == \
                (r.calc_standard, r.tls_standard, r.dw_standard)


def test_per_glass_counts_by_hand():
    from tlspipe.figures.fig4 import per_glass_counts

    df = pd.DataFrame({C.GLASS: ["a", "a", "a", "b"], C.IS_DW: [True, True, False, True],
                       C.E_QS: [1e-3, 5e-3, np.nan, 1e-4], C.IS_TLS: [True, False, False, True]})
    cnt = per_glass_counts(df, THR, ["a", "b", "c"])
    assert cnt.loc["a"].tolist() == [2, 1] and cnt.loc["b"].tolist() == [1, 1] and cnt.loc["c"].tolist() == [0, 0]


def test_fig4_d_keeps_none_apart_from_one(tmp_path):
    """With 120 DW in one glass, a glass with no TLS and one with a single TLS fall in different bars."""
    rows = [("g0", True, 0.02, False)] * 120 + [("g1", True, 0.02, False)] * 5 + [("g1", True, 1e-3, True)]
    df = pd.DataFrame(rows, columns=[C.GLASS, C.IS_DW, C.E_QS, C.IS_TLS])
    df[TF], df["pred_e_qs"], df[C.ROUND], df[C.PROCEDURE] = 0.092, 0.01, 1, "iterative"
    fig = fig4(df, tmp_path / "f.png", THR)
    ax = fig.axes[3]
    bars = [p for p in ax.patches if type(p).__name__ == "Rectangle" and p.get_fill()]  # the TLS histogram

    def height_at(v):
        return [p.get_height() for p in bars if p.get_x() <= v <= p.get_x() + p.get_width()]

    assert height_at(0.0) == [1.0] and height_at(1.0) == [1.0]  # two bars: no TLS (g0), one TLS (g1)


# --------------------------------------------------------------------------- fig5
def test_fig5_ranking_colours_and_files(tables, tmp_path):
    qs, dw = tables["shap_qs"], tables["shap_dw"]
    out = tmp_path / "fig5.png"
    fig = fig5(qs, dw, out)
    assert out.is_file() and out.with_suffix(".pdf").is_file()
    assert len(fig.axes) == 3  # two panels + colour bar
    feats = C.feature_columns(3)
    cmap = colormaps[CMAP]
    for ax, shap in zip(fig.axes[:2], (qs, dw)):
        assert "SHAP value" in ax.get_xlabel()
        mean_abs = {f: np.abs(shap[f]).mean() for f in feats}
        ranked = sorted(feats, key=lambda f: -mean_abs[f])
        shown = [t.get_text() for t in ax.get_yticklabels()][::-1]  # top to bottom
        assert shown == [feature_label(f) for f in ranked]
        top = ranked[0]
        pts = ax.collections[0]  # the top feature is drawn first
        np.testing.assert_allclose(np.sort(pts.get_offsets()[:, 0]), np.sort(shap[top]))
        # colour follows the feature value: the largest value is drawn in the 'high' colour
        s = pts.get_offsets()[:, 0]
        k = np.argmax(shap[SHAP_VALUE_PREFIX + top].to_numpy())
        i = np.argmin(np.abs(s - shap[top].to_numpy()[k]))
        np.testing.assert_allclose(pts.get_facecolors()[i], cmap(1.0))
    assert "log$_{10}$" in fig.axes[0].get_xlabel() and "probability" in fig.axes[1].get_xlabel()


def test_fig5_ignores_ids_and_uses_attrs(tables):
    qs = tables["shap_qs"].copy()
    qs.attrs["units"] = "log10(barrier)"
    fig = fig5(qs, tables["shap_dw"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == len(C.feature_columns(3)) and not any("glass" in t or "is_a" in t for t in labels)
    assert "barrier" in fig.axes[0].get_xlabel()


# --------------------------------------------------------------------------- fig6
def test_density_curve_matches_numpy():
    rng = np.random.default_rng(0)
    v = 10.0 ** rng.normal(-2, 1, 500)
    edges = np.logspace(-6, 2, 25)
    x, y = density_curve(v, edges)
    ref, _ = np.histogram(v, edges, density=True)
    np.testing.assert_allclose(y, ref[ref > 0])
    np.testing.assert_allclose(x, np.sqrt(edges[:-1] * edges[1:])[ref > 0])
    xl, yl = density_curve(v, np.linspace(0, 0.05, 11))  # part of v outside: normalised over all values
    assert np.sum(yl * 0.005) == pytest.approx(np.mean(v < 0.05))


def test_fig6_panels_and_files(tables, tmp_path):
    tls, pairs = tables["tls"], tables["pairs"]
    glass_tf = tables["glasses"]
    out = tmp_path / "fig6.png"
    fig = fig6(pairs, tls, out, glass_tf=glass_tf)
    assert out.is_file() and out.with_suffix(".pdf").is_file()
    assert len(fig.axes) == 5
    units = ["(count)", "(ε)", "(σ)", "(σ)", "(ε)"]
    scales = ["linear", "log", "linear", "linear", "log"]
    for ax, u, sc in zip(fig.axes, units, scales):
        assert u in ax.get_xlabel() and ax.get_xscale() == sc and ax.get_yscale() == "log"
        assert "$^{-1}$" in ax.get_ylabel()
    tf0 = float(glass_tf[TF].min())  # default: lowest Tf
    n_all = int(pairs[C.GLASS].map(dict(zip(glass_tf[C.GLASS], glass_tf[TF]))).eq(tf0).sum())
    at = tls[tls[TF] == tf0]
    leg = legend_texts(fig.axes[3])
    assert leg == [f"all pairs (n = {n_all})", f"DW (n = {at[C.IS_DW].sum()})", f"TLS (n = {at[C.IS_TLS].sum()})"]
    assert not any(t.startswith("all pairs") for t in legend_texts(fig.axes[4]))  # no Δ0 for all pairs
    # the plotted T_ab + T_ba density of all pairs is normalised to 1 (integer bins of equal width)
    ln = fig.axes[0].get_lines()[0]
    width = np.min(np.diff(ln.get_xdata()))
    assert width == round(width) and np.sum(ln.get_ydata()) * width == pytest.approx(1.0)


def test_fig6_reads_pair_files_and_needs_tf(tables, tmp_path):
    from tlspipe.figures.standin import write_tables

    paths = write_tables(tmp_path / "study", seed=1)
    files = sorted(paths["pairs"].glob("*.parquet"))
    tls = pd.read_parquet(paths["tls"])
    fig = fig6(files, tls, glass_tf=pd.read_csv(paths["glasses"]), tf=0.092)
    assert "0.092" in fig._suptitle.get_text()
    # a glass with no Tf anywhere is an error, not a silent drop
    with pytest.raises(ValueError, match="no Tf known for glass"):
        fig6(files, tls[tls[C.GLASS] != tls[C.GLASS].iloc[0]])


# --------------------------------------------------------------------------- degenerate inputs
def test_degenerate_inputs_do_not_crash(tables):
    tls = tables["tls"]
    no_tls = tls.copy()
    no_tls[C.IS_TLS] = False
    no_tls[C.E_QS] = np.where(no_tls[C.IS_DW], 0.01 + no_tls[C.E_QS], np.nan)
    fig = fig4(no_tls)
    assert "no TLS found" in texts(fig)
    fig = fig6(tables["pairs"], no_tls, glass_tf=tables["glasses"])
    assert "no TLS found" in texts(fig)
    fig3(no_tls)

    no_dw = tls.copy()
    no_dw[C.IS_DW] = False
    no_dw[C.IS_TLS] = False
    for c in (C.E_QS, C.E_QS_K, C.BARRIER, C.DELTA0):
        no_dw[c] = np.nan
    assert "no double wells in the table" in texts(fig3(no_dw))
    assert any("no DW" in t for t in texts(fig4(no_dw)))
    assert "no DW, no TLS found" in texts(fig6(tables["pairs"], no_dw, glass_tf=tables["glasses"]))

    empty = tls.iloc[:0]
    for fig in (fig3(empty), fig4(empty), fig6(tables["pairs"].iloc[:0], empty)):
        assert any(t.startswith("no ") for t in texts(fig))
    assert table1(empty).empty

    fig = fig5(tables["shap_qs"].iloc[:0], pd.DataFrame())
    assert texts(fig).count("no SHAP values") == 2

    one = tls[tls[TF] == tls[TF].min()].head(3)  # one Tf, three rows
    assert len(fig3(one).axes) == 2 and len(fig4(one).axes) == 4


def test_bad_tables_name_the_problem(tables, tmp_path):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['pred_e_qs'\]"):
        fig3(tables["tls"].drop(columns=["pred_e_qs"]))
    bad = tables["tls"].copy()
    bad.loc[0, C.PROCEDURE] = "random"
    with pytest.raises(ValueError, match="procedure.*'random'"):
        table1(bad)
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        fig3(tmp_path / "nope.parquet")


# --------------------------------------------------------------------------- tables
def test_table1_by_hand():
    # Tf 0.07: standard-only rows s1..s4, both b1, iterative rounds 0 (pretrain) and 1
    rows = [  # tf, procedure, round, is_dw, is_tls, status
        (0.07, "standard", -1, True, True, "dw"),
        (0.07, "standard", -1, True, False, "dw"),
        (0.07, "standard", -1, False, False, "not_dw"),
        (0.07, "standard", -1, False, False, "failed: x"),
        (0.07, "both", 1, True, True, "dw"),
        (0.07, "iterative", 0, True, True, "dw"),
        (0.07, "iterative", 0, False, False, "not_dw"),
        (0.07, "iterative", 1, True, True, "dw"),
        (0.07, "iterative", 1, True, False, "dw"),
        (0.062, "iterative", 1, True, True, "dw"),
    ]
    df = pd.DataFrame(rows, columns=[TF, C.PROCEDURE, C.ROUND, C.IS_DW, C.IS_TLS, C.STATUS])
    full = table1(df)
    assert list(full["tf_label"]) == ["0.062", "0.07", "all"] and np.isnan(full[TF].iloc[-1])
    t = full.iloc[:-1].set_index(TF)
    r = t.loc[0.07]
    # standard: s1..s4 + b1 = 5 calculations, TLS s1, b1 = 2, DW s1, s2, b1 = 3
    assert (r.calc_standard, r.tls_standard, r.dw_standard) == (5, 2, 3)
    assert r.tls_per_calc_standard == pytest.approx(2 / 5)
    assert r.tls_per_1000_standard == pytest.approx(400.0) and r.dw_per_1000_standard == pytest.approx(600.0)
    # iterative: b1 + 4 iterative rows; pretrain round 0 holds 2 of them; TLS b1, i0a, i1a = 3; DW 4
    assert (r.calc_pretrain, r.calc_iterative, r.tls_iterative, r.dw_iterative) == (2, 3, 3, 4)
    assert r.calc_iterative_all == 5
    assert r.tls_per_calc_iterative == pytest.approx(3 / 3)
    assert r.tls_per_calc_iterative_all == pytest.approx(3 / 5)
    assert r.tls_per_1000_iterative == pytest.approx(600.0)  # over every calculation of the loop
    assert r.gain == pytest.approx(0.6 / 0.4) and r.gain_lo < r.gain < r.gain_hi
    assert r.gain_paper == pytest.approx(1.0 / 0.4)
    r = t.loc[0.062]  # no standard calculation: ratio, rate and gain are NaN
    assert (r.calc_standard, r.calc_iterative, r.tls_iterative) == (0, 1, 1)
    assert np.isnan(r.tls_per_calc_standard) and np.isnan(r.tls_per_1000_standard_hi)
    assert np.isnan(r.gain) and np.isnan(r.gain_hi) and np.isnan(r.gain_paper)
    assert np.isnan(r.tls_iterative_below_filter)  # no filter given
    # the row 'all' pools both Tf
    a = full.iloc[-1]
    assert (a.calc_standard, a.tls_standard, a.calc_iterative_all, a.tls_iterative, a.dw_iterative) == (5, 2, 6, 4, 5)
    assert a.gain == pytest.approx((4 / 6) / (2 / 5))
    # the standard filter: iterative TLS b1, i0a, i1a at Tf 0.07 hopped (5, 5), (1, 3), (0, 0) times
    df[C.T_AB] = [9, 9, 9, 9, 5, 1, 9, 0, 9, 4]
    df[C.T_BA] = [9, 9, 9, 9, 5, 3, 9, 0, 9, 4]
    tf = table1(df, min_transitions=4).set_index("tf_label")
    assert tf.loc["0.07", "tls_iterative_below_filter"] == 2 and tf.loc["0.062", "tls_iterative_below_filter"] == 0
    assert tf.loc["all", "tls_iterative_below_filter"] == 2
    t_all = table1(df, pretrain_round=None).set_index("tf_label")
    assert t_all.loc["0.07", "calc_iterative"] == 5 and t_all.loc["0.07", "calc_pretrain"] == 0
    # one Tf: no row 'all'
    assert list(table1(df[df[TF] == 0.07])["tf_label"]) == ["0.07"]


def procedure_table(loop: tuple[int, int], standard: tuple[int, int], dw: tuple[int, int] = (0, 0),
                    tf: float = 0.092) -> pd.DataFrame:
    """A tls table: loop = (TLS, calculations) of the iterative procedure (round 1), standard = (TLS,
    calculations) of the standard one, dw = DW that are not TLS of each (loop, standard)."""
    rows = []
    for proc, rnd, (n_tls, n), n_dw in (("iterative", 1, loop, dw[0]), ("standard", -1, standard, dw[1])):
        for i in range(n):
            is_tls, is_dw = i < n_tls, i < n_tls + n_dw
            rows.append((tf, proc, rnd, is_dw, is_tls, "dw" if is_dw else "not_dw"))
    return pd.DataFrame(rows, columns=[TF, C.PROCEDURE, C.ROUND, C.IS_DW, C.IS_TLS, C.STATUS])


def cp_interval(k, n):
    """Clopper-Pearson 95% interval, straight from the beta quantiles."""
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return lo, hi


def test_table1_rates_have_clopper_pearson_intervals():
    r = table1(procedure_table(loop=(10, 100), standard=(1, 100), dw=(30, 50))).iloc[0]
    for p, k_tls, k_dw in (("iterative", 10, 40), ("standard", 1, 51)):
        assert r[f"tls_per_1000_{p}"] == pytest.approx(1000 * k_tls / 100)
        lo, hi = cp_interval(k_tls, 100)
        assert r[f"tls_per_1000_{p}_lo"] == pytest.approx(1000 * lo, rel=1e-9)
        assert r[f"tls_per_1000_{p}_hi"] == pytest.approx(1000 * hi, rel=1e-9)
        lo, hi = cp_interval(k_dw, 100)
        assert r[f"dw_per_1000_{p}"] == pytest.approx(1000 * k_dw / 100)
        assert (r[f"dw_per_1000_{p}_lo"], r[f"dw_per_1000_{p}_hi"]) == pytest.approx((1000 * lo, 1000 * hi))
    # and scipy's own exact binomial interval agrees
    ci = stats.binomtest(10, 100).proportion_ci(0.95, method="exact")
    assert (r.tls_per_1000_iterative_lo, r.tls_per_1000_iterative_hi) == pytest.approx((1000 * ci.low, 1000 * ci.high))
    assert r.gain == pytest.approx(10.0) and r.gain_lo < 10.0 < r.gain_hi


@pytest.mark.parametrize("loop, standard, gain, significant", [
    ((100, 1000), (10, 1000), 10.0, True),  # enough TLS: the loop is better, at 95%
    ((3, 100), (1, 100), 3.0, False),  # too few to tell
    ((10, 200), (1, 100), 5.0, None),  # different numbers of calculations
])
def test_table1_gain_interval(loop, standard, gain, significant):
    r = table1(procedure_table(loop, standard)).iloc[0]
    assert r.gain == pytest.approx(gain)
    assert r.gain_lo < gain < r.gain_hi
    if significant is not None:
        assert (r.gain_lo > 1.0) == significant
    # the defining property of the exact conditional interval: given k = k1 + k2, k1 ~ Binomial(k, p(r)),
    # p(r) = r n1 / (r n1 + n2); at each bound the one-sided tail probability is 2.5%
    (k1, n1), (k2, n2) = loop, standard

    def p(r):
        return r * n1 / (r * n1 + n2)

    assert stats.binom.sf(k1 - 1, k1 + k2, p(r.gain_lo)) == pytest.approx(0.025, rel=1e-6)
    assert stats.binom.cdf(k1, k1 + k2, p(r.gain_hi)) == pytest.approx(0.025, rel=1e-6)


def test_table1_no_standard_tls_gives_an_infinite_upper_bound():
    t = table1(procedure_table(loop=(5, 100), standard=(0, 100)))
    r = t.iloc[0]
    assert np.isnan(r.gain) and np.isinf(r.gain_hi) and r.gain_hi > 0
    assert 0.0 < r.gain_lo < 5.0  # still a lower bound: p_lo / (1 - p_lo) with p_lo from Beta(5, 1)
    assert r.gain_lo == pytest.approx(stats.beta.ppf(0.025, 5, 1) / (1 - stats.beta.ppf(0.025, 5, 1)))
    assert r.tls_per_1000_standard == 0 and r.tls_per_1000_standard_lo == 0
    assert r.tls_per_1000_standard_hi == pytest.approx(1000 * cp_interval(0, 100)[1])
    r = table1(procedure_table(loop=(0, 100), standard=(0, 100))).iloc[0]  # nothing found at all
    assert np.isnan(r.gain) and r.gain_lo == 0 and np.isinf(r.gain_hi)
    r = table1(procedure_table(loop=(0, 100), standard=(2, 100))).iloc[0]  # only the standard found TLS
    assert r.gain == 0 and r.gain_lo == 0 and np.isfinite(r.gain_hi)
    csv = t.to_csv(index=False)  # written as inf / empty (NaN), read back the same
    back = pd.read_csv(io.StringIO(csv))
    assert np.isinf(back["gain_hi"].iloc[0]) and np.isnan(back["gain"].iloc[0])


def test_table2_two_benchmark_files(tmp_path):
    bdir = tmp_path / "benchmarks"
    (bdir / "neb").mkdir(parents=True)
    (bdir / "learn").mkdir()
    (bdir / "neb" / "round_0.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "100.0\t0:01:40\t500.0\t600\t400\t450\t0.1\t1.0\t98.0\t95.0\n"
        "120.0\t0:02:00\t520.0\t600\t400\t450\t0.1\t1.0\t98.0\t115.0\n")  # two repeats: mean 110 s
    write_benchmark_tsv(bdir / "learn" / "round_0.tsv", 50.0)
    write_benchmark_tsv(bdir / "odd_rule.tsv", 7.0)  # a rule of no known step, file at the top level
    t = table2(bdir, n_exact=11, n_rounds=1).set_index("step")
    assert t.loc["neb", "n_jobs"] == 1 and t.loc["neb", "total_s"] == pytest.approx(110.0)
    assert t.loc["neb", "cpu_s"] == pytest.approx(105.0) and t.loc["neb", "max_rss_mb"] == pytest.approx(510.0)
    assert t.loc["neb", "s_per_unit"] == pytest.approx(10.0)
    assert t.loc["neb", "paper_s_min"] == 100.0 and "NEB" in t.loc["neb", "paper_step"]
    assert t.loc["learn", "s_per_unit"] == pytest.approx(50.0)
    assert (t.loc["learn", "paper_s_min"], t.loc["learn", "paper_s_max"]) == (1e3, 1e4)
    assert t.loc["predict", "paper_s_min"] == 1e-5 and t.loc["predict", "n_jobs"] == 0
    assert np.isnan(t.loc["pairs", "s_per_unit"])  # no count given, no benchmark
    assert t.loc["odd_rule", "total_s"] == pytest.approx(7.0) and t.loc["odd_rule", "unit"] == "job"
    (bdir / "neb" / "broken.tsv").write_text("wall\n1\n")
    with pytest.raises(ValueError, match="broken.tsv.*no column 's'"):
        table2(bdir)


BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench_tsv(path, s: float, cpu: str) -> None:
    """One job's benchmark file with wall-clock s and cpu_time as written (a number, '0' or '-')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCH_HEADER + f"{s}\t0:00:00\t100.0\t200\t90\t95\t0.1\t1.0\t90.0\t{cpu}\n")


def cost_study(root):
    """A finished study's benchmarks and tls table; the hand-computed figures are in test_study_cost."""
    b = root / "benchmarks"
    jobs = {  # file: (wall s, cpu_time)
        "prepare/g0.tsv": (100.0, "90.0"),
        "explore/g0.tsv": (200.0, "0"),  # cpu_time 0: counts its wall-clock 200 s
        "pairs/g0.tsv": (10.0, "-"),  # cpu_time missing: 10 s
        "neb/loop/round_0/g0.000.tsv": (50.0, "40.0"),
        "neb/baseline/g0.000.tsv": (30.0, "25.0"),
        "batch/round_0.tsv": (1.0, "1.0"),
        "batch/baseline.tsv": (2.0, "2.0"),
        "train/round_0.tsv": (20.0, "18.0"),
        "predict/round_0.tsv": (5.0, "4.0"),
        "figures/fig3.tsv": (1000.0, "1000.0"),  # figures and tables are no part of the study's cost
        "tables/table1.tsv": (3.0, "3.0"),
    }
    for f, (s, cpu) in jobs.items():
        bench_tsv(b / f, s, cpu)
    rows = [  # is_a, is_b, procedure, round, is_tls
        (1, 2, "both", 0, True), (3, 4, "iterative", 0, True), (5, 6, "iterative", 1, True),
        (7, 8, "iterative", 1, False), (9, 10, "standard", -1, True), (11, 12, "standard", -1, False)]
    tls = pd.DataFrame(rows, columns=[C.IS_A, C.IS_B, C.PROCEDURE, C.ROUND, C.IS_TLS])
    tls.insert(0, C.GLASS, "g0")
    tls[C.IS_DW], tls[TF], tls[C.STATUS] = tls[C.IS_TLS], 0.092, "dw"
    tls.to_parquet(root / "tls.parquet")
    return b, tls


def test_table2_totals_and_tls_per_cpu_hour(tmp_path):
    from tlspipe.figures.tables import job_procedure, study_benchmark_files

    b, tls = cost_study(tmp_path)
    files = study_benchmark_files(b)
    assert len(files) == 9 and not any(f.relative_to(b).parts[0] in ("figures", "tables") for f in files)
    t = table2(b, files=files, tls=tls).set_index("step")
    # shared 90 + 200 + 10 = 300 CPU s; loop 40 + 1 + 18 + 4 = 63; standard 25 + 2 = 27
    assert t.loc["explore", "cpu_s"] == 200.0 and t.loc["explore", "n_cpu_from_wall"] == 1
    assert t.loc["pairs", "cpu_s"] == 10.0 and t.loc["prepare", "n_cpu_from_wall"] == 0
    assert t.loc["learn", "n_jobs"] == 1 and t.loc["learn", "cpu_s"] == 18.0  # rule train: the learn step
    assert t.loc["neb", "cpu_s"] == 65.0 and t.loc["batch", "cpu_s"] == 3.0
    tot = t.loc["total"]
    assert (tot.n_jobs, tot.cpu_s, tot.total_s, tot.n_cpu_from_wall, tot.tls) == (9, 390.0, 418.0, 2, 4)
    assert tot.tls_per_cpu_hour == pytest.approx(4 / (390 / 3600))
    it, st = t.loc["total_iterative"], t.loc["total_standard"]
    assert (it.n_jobs, it.cpu_s, it.tls) == (7, 363.0, 3) and (st.n_jobs, st.cpu_s, st.tls) == (5, 327.0, 2)
    assert it.tls_per_cpu_hour == pytest.approx(3 / (363 / 3600))
    assert st.tls_per_cpu_hour == pytest.approx(2 / (327 / 3600))
    assert np.isnan(t.loc["neb", "tls_per_cpu_hour"])  # only the total rows
    # without the tls table: no TLS figures; every file of the directory: figures and tables are steps too
    t = table2(b).set_index("step")
    assert np.isnan(t.loc["total", "tls_per_cpu_hour"]) and t.loc["total", "n_jobs"] == 11
    assert t.loc["figures", "cpu_s"] == 1000.0
    assert [job_procedure(r, f) for r, f in [("neb", "neb/baseline/g.000.tsv"), ("neb", "neb/loop/round_3/g.tsv"),
                                             ("batch", "batch/round_2.tsv"), ("pairs", "pairs/g.tsv")]] == \
        ["standard", "iterative", "iterative", "shared"]
    # a procedure without jobs of its own among the files: nothing to charge
    t = table2(b, files=[f for f in files if "baseline" not in str(f)], tls=tls).set_index("step")
    assert np.isnan(t.loc["total_standard", "tls_per_cpu_hour"]) and t.loc["total_iterative", "tls"] == 3


def test_study_cost_script(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "study_cost.py"
    spec = importlib.util.spec_from_file_location("study_cost", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cost_study(tmp_path)
    mod.main([str(tmp_path)])
    out = {}
    for line in capsys.readouterr().out.splitlines():
        name, rest = line.split(": ", 1)
        value, *unit = rest.split(" ")
        out[name] = (float(value), unit[0] if unit else "")
    assert out["cpu_prepare"] == (90.0, "s") and out["wall_prepare"] == (100.0, "s")
    assert out["cpu_explore"] == (200.0, "s") and out["cpu_pairs"] == (10.0, "s")
    assert out["cpu_neb"] == (65.0, "s") and out["wall_neb"] == (80.0, "s")
    assert out["cpu_learn"] == (18.0, "s") and out["cpu_predict"] == (4.0, "s") and out["cpu_batch"] == (3.0, "s")
    assert "cpu_collect" not in out and "cpu_figures" not in out and "cpu_tables" not in out
    assert out["cpu_from_wall_jobs"] == (2, "jobs") and out["jobs"] == (9, "jobs")
    assert out["cpu_total"][0] == pytest.approx(390 / 3600, rel=1e-3) and out["cpu_total"][1] == "h"
    assert out["cpu_total_iterative"][0] == pytest.approx(363 / 3600, rel=1e-3)
    assert out["cpu_total_standard"][0] == pytest.approx(327 / 3600, rel=1e-3)
    assert out["tls_found"][0] == 4 and out["tls_found_iterative"][0] == 3 and out["tls_found_standard"][0] == 2
    assert out["tls_per_cpu_hour"][0] == pytest.approx(4 / (390 / 3600), rel=1e-3)
    assert out["tls_per_cpu_hour"][1] == "1/h"
    assert out["tls_per_cpu_hour_iterative"][0] == pytest.approx(3 / (363 / 3600), rel=1e-3)
    assert out["tls_per_cpu_hour_standard"][0] == pytest.approx(2 / (327 / 3600), rel=1e-3)
    assert out["exact_calculations"][0] == 7  # 6 pairs, one computed by both procedures
    assert out["tls_per_exact_calculation"][0] == pytest.approx(4 / 7, rel=1e-3)


# --------------------------------------------------------------------------- command line
def test_cli_figure_commands(tmp_path, capsys):
    from tlspipe.cli import main

    root = tmp_path / "study"
    assert main(["figure", "standin", "--out", str(root), "--seed", "2"]) == 0
    out = tmp_path / "fig" / "fig5.png"
    assert main(["figure", "fig5", "--shap-qs", str(root / "loop/round_4/shap_qs.parquet"),
                 "--shap-dw", str(root / "loop/round_4/shap_dw.parquet"), "--out", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".pdf").is_file()
    t1 = tmp_path / "tables" / "table1.csv"
    assert main(["figure", "table1", "--tls", str(root / "tls.parquet"), "--out", str(t1)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(t1), table1(root / "tls.parquet"), check_dtype=False)
    t2 = tmp_path / "tables" / "table2.csv"
    pairs = sorted(str(p) for p in (root / "pairs").glob("*.parquet"))
    assert main(["figure", "table2", "--benchmarks", str(root / "benchmarks"), "--tls", str(root / "tls.parquet"),
                 "--pairs", *pairs, "--out", str(t2)]) == 0
    t = pd.read_csv(t2).set_index("step")
    n_pairs = sum(len(pd.read_parquet(p)) for p in pairs)
    assert t.loc["pairs", "n_units"] == n_pairs and t.loc["prepare", "n_units"] == len(pairs)
    assert t.loc["predict", "n_units"] == n_pairs * 5  # every one of the 5 rounds predicts all pairs
    tls = pd.read_parquet(root / "tls.parquet")
    assert t.loc["total", "tls"] == len(tls[tls[C.IS_TLS]].drop_duplicates(C.IDS))
    assert t.loc["total", "tls_per_cpu_hour"] == pytest.approx(t.loc["total", "tls"] / (t.loc["total", "cpu_s"] / 3600))
    capsys.readouterr()
    assert main(["figure", "fig3", "--tls", str(tmp_path / "missing.parquet"), "--out", str(out)]) == 1
    assert "missing.parquet does not exist" in capsys.readouterr().err


def test_unreadable_tables_name_the_file(tmp_path, capsys):
    from tlspipe.cli import main

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + bytes(300))
    assert main(["figure", "fig6", "--pairs", str(empty), "--tls", str(bad), "--out", str(tmp_path / "f.png")]) == 1
    err = capsys.readouterr().err
    assert f"{bad} is not a readable .parquet table" in err and "rebuild it" in err
    good_tls = tmp_path / "sd"
    assert main(["figure", "standin", "--out", str(good_tls)]) == 0
    capsys.readouterr()
    assert main(["figure", "fig6", "--pairs", str(empty), "--tls", str(good_tls / "tls.parquet"),
                 "--out", str(tmp_path / "f.png")]) == 1
    err = capsys.readouterr().err
    assert f"pair table: {empty} is empty" in err
