"""The Snakemake workflow on the tiny test config, end to end: every output, resuming after losses,
extending the loop by changing the stop rule, the report, and config validation."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pandas as pd
import pytest

from tlspipe import columns as C

REPO = Path(__file__).resolve().parents[1]
GLASS = "tf0.092_g000"


def run_snakemake(workdir: Path, *args, configfiles=(), check=True):
    # targets and flags first: --configfile takes several values and would swallow a target after it
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--cores", "2", "--configfile", str(REPO / "config" / "test.yaml"), *map(str, configfiles)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake failed ({' '.join(args)}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The whole tiny study, run once for this module."""
    wd = tmp_path_factory.mktemp("study")
    shutil.copytree(REPO / "config", wd / "config")
    run_snakemake(wd)
    return wd


def test_unknown_config_key_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("explore:\n  n_trj: 3\n")
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                        "--directory", str(tmp_path), "--cores", "1", "--configfile", str(bad)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "n_trj" in (r.stdout + r.stderr)
    assert "config.schema.yaml" in (r.stdout + r.stderr)


def test_dry_run_default_config(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                        str(tmp_path), "-n", "--cores", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_glass_store_and_pairs(study):
    g = study / f"results/test/glasses/{GLASS}"
    meta = json.loads((g / "equilibrated.json").read_text())
    assert 0.0 < meta["swap_acceptance"] < 1.0
    with h5py.File(g / "is.h5") as h:
        n_is = h["energy"].shape[0]
        assert h["positions"].shape == (n_is, 200, 3)
    assert n_is >= 2
    df = pd.read_parquet(study / f"results/test/pairs/{GLASS}.parquet")
    assert len(df) > 0 and (df["delta_e"] <= 1.0).all()
    for rule in ("prepare", "explore", "pairs"):
        assert (study / f"results/test/benchmarks/{rule}/{GLASS}.tsv").exists()
        assert (study / f"results/test/logs/{rule}/{GLASS}.log").exists()


def test_loop_outputs(study):
    r = study / "results/test"
    tls = pd.read_parquet(r / "tls.parquet")
    for col in [*C.IDS, *C.EXACT, C.ROUND, C.PROCEDURE, C.TF, C.IS_DW, C.IS_TLS, C.PRED_DW, C.PRED_E_QS,
                *C.feature_columns(3)]:
        assert col in tls.columns, col
    assert set(tls[C.PROCEDURE]) <= {"iterative", "standard", "both"}
    loop = tls[tls[C.ROUND] >= 0]
    assert not loop.duplicated(C.IDS).any()  # no pair computed twice by the loop
    rounds = sorted(loop[C.ROUND].unique())
    assert rounds == [0, 1]  # test.yaml: max_rounds 1
    assert len(loop[loop[C.ROUND] == 0]) == 12  # k0
    for i in rounds:
        d = r / f"loop/round_{i}"
        for f in ("batch.parquet", "exact.parquet", f"predictions/{GLASS}.parquet"):  # predicted per glass
            assert (d / f).exists(), d / f
        assert (d / "models/dw").is_dir()
    assert (r / "baseline/exact.parquet").exists()
    t1 = pd.read_csv(r / "tables/table1.csv")
    assert {"tf", "tls_iterative", "calc_iterative", "tls_standard", "calc_standard"} <= set(t1.columns)
    assert (r / "tables/table2.csv").exists()
    for k in (3, 4, 5, 6):
        assert (r / f"figures/fig{k}.pdf").stat().st_size > 1000  # the PNGs: test_figures_show_the_study


def test_table1_counts_are_the_tls_table(study):
    """Table I of the tiny study holds the counts of tls.parquet: every pair either procedure computed."""
    r = study / "results/test"
    tls = pd.read_parquet(r / "tls.parquet")
    (row,) = pd.read_csv(r / "tables/table1.csv").itertuples()  # one Tf
    assert row.tf == 0.092
    it = tls[tls[C.PROCEDURE].isin(["iterative", "both"])]
    st = tls[tls[C.PROCEDURE].isin(["standard", "both"])]
    assert (row.calc_iterative_all, row.dw_iterative, row.tls_iterative) == \
        (len(it), int(it[C.IS_DW].sum()), int(it[C.IS_TLS].sum()))
    assert row.calc_iterative == int((it[C.ROUND] >= 1).sum())  # round 0, the random sample, left out
    assert (row.calc_standard, row.dw_standard, row.tls_standard) == \
        (len(st), int(st[C.IS_DW].sum()), int(st[C.IS_TLS].sum()))
    assert len(it) == int((tls[C.ROUND] >= 0).sum())  # the loop's pairs are the rounds' pairs
    assert int(tls[C.IS_DW].sum()) > 0  # the figures below have double wells to draw


def test_figures_show_the_study(study, tmp_path):
    """Each figure of the tiny study is its tables drawn: the PNG the workflow wrote has exactly the pixels
    of the figure drawn here from the study's tables with the rule's arguments, and that figure's data are
    checked against numbers computed here from the tables (scatter points, legend counts, Pearson r, the
    curves of Fig. 4 and Table I).  So a figure drawn from other rows, a stale table or another threshold
    fails, and so does a blank canvas.  (The ink floor alone would not catch empty axes: fig3 without any
    double well is still 3.7% drawn, frames and labels, against 4.5% here; the data checks do.)"""
    import numpy as np
    import yaml
    from matplotlib.image import imread
    from scipy import stats

    from tlspipe import figures
    from tlspipe.figures.common import feature_label
    from tlspipe.figures.fig4 import search_counts

    r = study / "results/test"
    cfg = yaml.safe_load((r / "config.yaml").read_text())
    tls = pd.read_parquet(r / "tls.parquet")
    glass_tf = {GLASS: 0.092}
    last = int(tls[C.ROUND].max())
    drawn = {
        3: figures.fig3(r / "tls.parquet", tmp_path / "fig3.png"),
        4: figures.fig4(r / "tls.parquet", tmp_path / "fig4.png", cfg["tls_threshold"], glass_tf=glass_tf,
                        n_particles=cfg["n_particles"]),
        5: figures.fig5(r / f"loop/round_{last}/shap_qs.parquet", r / f"loop/round_{last}/shap_dw.parquet",
                        tmp_path / "fig5.png"),
        6: figures.fig6([r / f"pairs/{GLASS}.parquet"], r / "tls.parquet", tmp_path / "fig6.png", glass_tf=glass_tf),
    }
    for k in drawn:
        png = imread(r / f"figures/fig{k}.png")
        assert png.shape == imread(tmp_path / f"fig{k}.png").shape, k
        assert (png == imread(tmp_path / f"fig{k}.png")).all(), f"fig{k}.png is not the figure of the study's tables"
        ink = (png[..., :3] < 0.9).any(axis=-1).mean()
        assert ink > 0.02, f"fig{k}.png is nearly blank ({ink:.3f} of its pixels drawn)"

    # Fig. 3: every double well with both values, and its Pearson r
    dw = tls[tls[C.IS_DW].astype(bool)]
    ax_qs, ax_barrier = drawn[3].axes
    for ax, exact, pred in ((ax_qs, C.E_QS, "pred_e_qs"), (ax_barrier, C.BARRIER, "pred_barrier")):
        x, y = dw[exact].to_numpy(float), dw[pred].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        assert ok.sum() >= 2
        np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 0]), np.sort(x[ok]))
        np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 1]), np.sort(y[ok]))
        (label,) = [t.get_text() for t in ax.get_legend().get_texts()]
        r_ref = stats.pearsonr(np.log10(x[ok]), np.log10(y[ok]))[0]
        assert f"r = {r_ref:.3f}" in label and f"n = {ok.sum()}" in label

    # Fig. 4: (b) ends at Table I's counts; (c) n(E)/E of the double wells, 1 glass of 200 particles
    t1 = pd.read_csv(r / "tables/table1.csv").iloc[0]
    pts = search_counts(tls, cfg["tls_threshold"])
    lines = {ln.get_gid(): ln for ln in drawn[4].axes[1].get_lines() if ln.get_gid()}
    for proc, calc, tls_n, dw_n in (("iterative", t1.calc_iterative_all, t1.tls_iterative, t1.dw_iterative),
                                    ("standard", t1.calc_standard, t1.tls_standard, t1.dw_standard)):
        if calc == 0:
            continue
        assert pts[pts[C.PROCEDURE] == proc].iloc[-1][["calc", "tls", "dw"]].tolist() == [calc, tls_n, dw_n]
        for kind, n in (("tls", tls_n), ("dw", dw_n)):
            ln = lines[f"0.092/{proc}/{kind}"]
            assert (ln.get_xdata()[-1], ln.get_ydata()[-1]) == (calc, n)
    (curve,) = [ln for ln in drawn[4].axes[2].get_lines() if ln.get_label().startswith("$T_f$ = 0.092 (")]
    e = np.sort(dw[C.E_QS].to_numpy(float))
    np.testing.assert_allclose(curve.get_xdata(), e)
    np.testing.assert_allclose(curve.get_ydata(), np.arange(1, e.size + 1) / (1 * 200.0) / e)

    # Fig. 5: per model of the last round, its top feature by mean |SHAP| drawn at its SHAP values (a model
    # that fell back for lack of double wells has no SHAP table: its panel says so)
    n_drawn = 0
    for ax, kind in zip(drawn[5].axes[:2], ("qs", "dw")):
        shap = pd.read_parquet(r / f"loop/round_{last}/shap_{kind}.parquet")
        if shap.empty:
            assert "no SHAP values" in [t.get_text() for t in ax.texts], kind
            continue
        top = max(C.feature_columns(3), key=lambda f: np.abs(shap[f]).mean())
        assert ax.get_yticklabels()[-1].get_text() == feature_label(top)  # ranked first, drawn on top
        np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 0]), np.sort(shap[top]))
        n_drawn += 1
    assert n_drawn >= 1

    # Fig. 6: the legend counts every pair of the glass, the DW and the TLS
    n_pairs = len(pd.read_parquet(r / f"pairs/{GLASS}.parquet", columns=[C.IS_A]))
    legend = [t.get_text() for t in drawn[6].axes[3].get_legend().get_texts()]
    assert legend[:2] == [f"all pairs (n = {n_pairs})", f"DW (n = {int(tls[C.IS_DW].sum())})"]


def test_report(study):
    run_snakemake(study, "--report", "results/test/report.html")
    html = (study / "results/test/report.html").read_text(errors="replace")
    assert "fig3" in html and "table1" in html


def _planned_jobs(out):
    """(rule, output) of every job a dry run lists."""
    return re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n(?:    .*\n)*?    output: (.*)$", out, flags=re.M)


def test_a_stop_during_a_later_rounds_neb_jobs_is_planned_again(study, tmp_path):
    """What a kill during round 1's NEB jobs leaves (its batch and chunks written, nothing after them): the
    rerun plans the round's NEB job and gather.  (Snakemake used to hand gather the batch file as a
    placeholder input there, on every rerun: see loop_rounds in common.smk.)  Run on the study as made,
    before the tests below change its config."""
    import os

    r = study / "results/test"
    chunks = sorted(p.name for p in (r / "loop/round_1/chunks").glob("*.parquet"))
    assert chunks
    later = [*(r / "loop/round_1/exact" / c for c in chunks), r / "loop/round_1/exact.parquet",
             r / "loop/round_1/models", r / "loop/round_1/predictions",
             *r.glob("loop/round_1/shap_*.parquet"), r / "tls.parquet", r / "tables", r / "figures"]
    moved = []
    try:
        for k, p in enumerate(later):
            if p.exists():
                os.replace(p, tmp_path / str(k))  # the same file system: kept whole, mtime and all
                moved.append(p)
        jobs = _planned_jobs(run_snakemake(study, "-n").stdout)
        assert [("neb", f"results/test/loop/round_1/exact/{c}") for c in chunks] == [j for j in jobs if j[0] == "neb"]
        assert ("gather", "results/test/loop/round_1/exact.parquet") in jobs
    finally:
        for p in moved:
            os.replace(tmp_path / str(later.index(p)), p)


def test_a_config_change_reruns_exactly_what_it_changes(study):
    """Rules take their config slice through params:, so Snakemake's params trigger sees every edit."""
    r = run_snakemake(study, "-n")
    assert "Nothing to be done" in r.stdout + r.stderr
    # threads are how a job runs, not what it computes
    threads = study / "threads.yaml"
    threads.write_text("learn:\n  threads: 2\npairs:\n  threads: 2\n")
    jobs = _planned_jobs(run_snakemake(study, "-n", configfiles=[threads]).stdout)
    assert [rule for rule, _ in jobs] == ["study_config"], jobs  # the record of the config, and nothing else
    # a NEB tolerance: every NEB job, and after them what reads exact results
    tol = study / "tol.yaml"
    tol.write_text("neb:\n  tol: 5.0e-5\n")
    jobs = _planned_jobs(run_snakemake(study, "-n", configfiles=[tol]).stdout)
    rules = {rule for rule, _ in jobs}
    neb = {out for rule, out in jobs if rule == "neb"}
    r = study / "results/test"
    # the chunks known before any checkpoint reruns; later rounds' chunks are planned once their batch reruns
    known = {str(p.relative_to(study)) for p in [*r.glob("loop/round_0/exact/*.parquet"),
                                                  *r.glob("baseline/exact/*.parquet")]}
    assert known and known <= neb
    assert {"neb", "gather", "train", "predict", "tls_table", "table1", "table2"} <= rules
    downstream = {"neb", "gather", "train", "predict", "batch", "shap", "tls_table", "table1", "table2", "fig3",
                  "fig4", "fig5", "fig6", "all", "study_config"}
    assert rules <= downstream, rules - downstream  # no prepare, explore, pairs, baseline_batch
    batches = [out for rule, out in jobs if rule == "batch"]
    assert "results/test/loop/round_0/batch.parquet" not in " ".join(batches)  # round 0 is chosen before NEB


def test_raising_max_rounds_extends_the_loop_without_redoing(study):
    r = study / "results/test"
    before = {p: p.stat().st_mtime_ns for p in r.glob("loop/round_*/exact/*.parquet")}
    extra = study / "more_rounds.yaml"
    extra.write_text("loop:\n  k0: 12\n  batch: 6\n  max_rounds: 2\n  min_train_dw: 4\n")
    run_snakemake(study, "results/test/tls.parquet", "-R", "tls_table", configfiles=[extra])
    assert (r / "loop/round_2/exact.parquet").exists()
    for p, t in before.items():
        assert p.stat().st_mtime_ns == t, f"{p} was recomputed"
    tls = pd.read_parquet(r / "tls.parquet")
    assert 2 in set(tls[C.ROUND])
    assert not tls[tls[C.ROUND] >= 0].duplicated(C.IDS).any()


def test_lost_outputs_are_redone_alone(study):
    """A lost NEB chunk is recomputed, and nothing else; a lost store resumes from its trajectory checkpoints."""
    r = study / "results/test"
    chunks = sorted(r.glob("loop/round_0/exact/*.parquet"))
    keep = {p: p.stat().st_mtime_ns for p in chunks[1:]}
    chunks[0].unlink()
    g = r / f"glasses/{GLASS}"
    ck = sorted((g / "explore_checkpoints").glob("traj_*.npz"))
    ck_time = ck[0].stat().st_mtime_ns
    with h5py.File(g / "is.h5") as h:
        n_is = h["energy"].shape[0]
    (g / "is.h5").unlink()
    ck[1].unlink()
    run_snakemake(study, f"results/test/glasses/{GLASS}/is.h5", f"results/test/loop/round_0/exact/{chunks[0].name}",
                  "--rerun-triggers", "mtime")
    assert chunks[0].exists()
    for p, t in keep.items():
        assert p.stat().st_mtime_ns == t
    assert ck[0].stat().st_mtime_ns == ck_time  # trajectory 0 not redone
    with h5py.File(g / "is.h5") as h:
        assert h["energy"].shape[0] == n_is  # same seeds -> same IS


def test_glass_names_keep_distinct_tf_apart():
    """Tf 0.0921 and 0.0924 are two Tf, not one 'listed twice'; the usual 3-decimal names are unchanged."""
    from tlspipe.workflow import ConfigError, glass_table

    names = [g["glass"] for g in glass_table({"seed": 1, "glasses": [
        {"tf": 0.0921, "count": 1}, {"tf": 0.0924, "count": 1}, {"tf": 0.07, "count": 2}]})]
    assert names == ["tf0.0921_g000", "tf0.0924_g000", "tf0.070_g000", "tf0.070_g001"]
    with pytest.raises(ConfigError, match=r"Tf = 0.092 is listed twice \(entries 1 and 3\)"):
        glass_table({"seed": 1, "glasses": [{"tf": 0.092, "count": 1}, {"tf": 0.07, "count": 1},
                                            {"tf": 0.092, "count": 2}]})
