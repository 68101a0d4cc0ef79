"""Tables I and II of the paper from the workflow's tables.

table1: the iterative vs the standard procedure per Tf, from ``results/{study}/tls.parquet``, with exact 95%
intervals.
table2: time per pipeline step from Snakemake ``benchmark:`` files, beside the paper's Table II; the total CPU
time and the TLS found per CPU-hour, of the whole pipeline and per procedure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from .common import PROCEDURE_BOTH, PROCEDURE_ITERATIVE, PROCEDURE_STANDARD, TF, as_bool, read_table, tls_mask
from .intervals import LEVEL, rate_per, rate_ratio

TABLE1_REQUIRED = [TF, C.STATUS, C.IS_DW, C.IS_TLS, C.ROUND, C.PROCEDURE]

#: the paper's Table I (analysis of the data of its ref. 35): Tf, units, standard TLS / NEBs,
#: iterative TLS / NEBs (iterative NEBs exclude the pretraining data)
PAPER_TABLE1 = pd.DataFrame(
    [(0.062, "argon", 61, 14202, 156, 2500), (0.062, "nip", 28, 14202, 59, 2000),
     (0.07, "argon", 291, 21109, 1057, 5000), (0.07, "nip", 46, 21109, 152, 4000),
     (0.092, "argon", 245, 30920, 776, 4000), (0.092, "nip", 28, 30920, 123, 6000)],
    columns=[TF, "units", "tls_standard", "calc_standard", "tls_iterative", "calc_iterative"])


TABLE1_COLUMNS = [
    TF, "tf_label",
    "calc_standard", "dw_standard", "tls_standard", "tls_per_calc_standard",
    "tls_per_1000_standard", "tls_per_1000_standard_lo", "tls_per_1000_standard_hi",
    "dw_per_1000_standard", "dw_per_1000_standard_lo", "dw_per_1000_standard_hi",
    "calc_pretrain", "calc_iterative", "calc_iterative_all", "dw_iterative", "tls_iterative",
    "tls_per_calc_iterative", "tls_per_calc_iterative_all",
    "tls_per_1000_iterative", "tls_per_1000_iterative_lo", "tls_per_1000_iterative_hi",
    "dw_per_1000_iterative", "dw_per_1000_iterative_lo", "dw_per_1000_iterative_hi",
    "gain", "gain_lo", "gain_hi", "gain_paper", "tls_iterative_below_filter"]


def table1(tls, *, pretrain_round: int | None = 0, tls_threshold: float | None = None,
           min_transitions: int | None = None, level: float = LEVEL) -> pd.DataFrame:
    """Iterative vs standard procedure, one row per Tf (ascending), then a row 'all' pooling every Tf (only
    when there is more than one Tf).

    tls: ``results/{study}/tls.parquet`` (path or DataFrame) with tf, status, is_dw, is_tls, round, procedure.
    A row counts for the iterative procedure when procedure is 'iterative' or 'both' (and round >= 0), for
    the standard one when it is 'standard' or 'both': a pair both procedures computed counts for both.  Every
    row is one exact calculation spent, failed ones included (their cost was paid); DW = is_dw; TLS = is_tls
    (or DW with E_qs < tls_threshold, epsilon).

    Columns:

    * tf (NaN on the row 'all'), tf_label ('0.062', ..., 'all');
    * standard procedure: calc_standard, dw_standard, tls_standard, tls_per_calc_standard;
    * iterative procedure: calc_pretrain (rows of round ``pretrain_round``, the random initial training
      set), calc_iterative (the other rounds: the paper's Table I footnote leaves the pretraining data out
      of its NEB count), calc_iterative_all (every round), dw_iterative and tls_iterative (found in all
      rounds), tls_per_calc_iterative = tls_iterative / calc_iterative (the paper's ratio) and
      tls_per_calc_iterative_all = tls_iterative / calc_iterative_all.  pretrain_round=None counts every
      round in calc_iterative;
    * rates per 1,000 exact calculations with their exact intervals, for each procedure p in (standard,
      iterative): tls_per_1000_{p}, tls_per_1000_{p}_lo, tls_per_1000_{p}_hi and the same for dw_per_1000.
      The rate is found / calculations x 1000 over every calculation the procedure spent (for the
      iterative procedure calc_iterative_all, the pretraining round included: its TLS count too, and a
      binomial proportion needs the calculations of every TLS it counts).  Interval: Clopper-Pearson
      (exact binomial) at ``level`` (default 95%), i.e. the beta quantiles B(a/2; k, n-k+1) and
      B(1-a/2; k+1, n-k), a = 1 - level, for k found in n calculations (:func:`.intervals.clopper_pearson`);
    * gain = tls_per_1000_iterative / tls_per_1000_standard, the TLS found per calculation by the loop over
      that of the standard procedure, with gain_lo, gain_hi its exact conditional interval for a ratio of two
      Poisson rates (:func:`.intervals.rate_ratio`): given the k1 + k2 TLS of both procedures, the loop's
      k1 is binomial with p = r n1 / (r n1 + n2) (n1, n2 the calculations, r the ratio); the Clopper-Pearson
      interval of p, inverted, is the interval of r.  Valid for small counts.  When the standard procedure
      found no TLS the gain is NaN (undefined) and gain_hi infinite; when the loop found none, gain and
      gain_lo are 0;
    * gain_paper = tls_per_calc_iterative / tls_per_calc_standard, the paper's ratio (pretraining
      calculations left out), a point value only (its numerator is not a binomial proportion);
    * tls_iterative_below_filter: TLS found by the iterative procedure that the standard procedure's filter
      excludes, min(t_ab, t_ba) < min_transitions (NaN when min_transitions is None or the transition
      counts are not in the table).

    Ratios with a zero denominator are NaN.
    """
    df = read_table(tls, "tls table", TABLE1_REQUIRED)
    proc = df[C.PROCEDURE].astype(str).to_numpy()
    bad = sorted(set(proc) - {PROCEDURE_ITERATIVE, PROCEDURE_STANDARD, PROCEDURE_BOTH})
    if bad:
        raise ValueError(f"tls table: column {C.PROCEDURE!r} has unknown value(s) {bad}; expected "
                         f"'{PROCEDURE_ITERATIVE}', '{PROCEDURE_STANDARD}' or '{PROCEDURE_BOTH}'")
    rnd = df[C.ROUND].to_numpy()
    it_bad = np.isin(proc, [PROCEDURE_ITERATIVE, PROCEDURE_BOTH]) & (rnd < 0)
    if it_bad.any():
        raise ValueError(f"tls table: {int(it_bad.sum())} row(s) have procedure 'iterative'/'both' but "
                         f"round < 0; the round column must give the iterative round (>= 0) of such rows")
    dw = as_bool(df[C.IS_DW])
    tl = tls_mask(df, tls_threshold)
    tf = df[TF].to_numpy(float)
    below = None
    if min_transitions is not None and {C.T_AB, C.T_BA} <= set(df.columns):
        below = np.minimum(df[C.T_AB].to_numpy(float), df[C.T_BA].to_numpy(float)) < min_transitions
    tfs = sorted(np.unique(tf[np.isfinite(tf)]))
    groups = [(float(t), f"{t:g}", tf == t) for t in tfs]
    if len(tfs) > 1:
        groups.append((float("nan"), "all", np.isfinite(tf)))
    rows = []
    for t, label, at in groups:
        st = at & np.isin(proc, [PROCEDURE_STANDARD, PROCEDURE_BOTH])
        it = at & np.isin(proc, [PROCEDURE_ITERATIVE, PROCEDURE_BOTH])
        pre = it & (rnd == pretrain_round) if pretrain_round is not None else np.zeros_like(it)
        n_st, n_pre, n_it = int(st.sum()), int(pre.sum()), int((it & ~pre).sum())
        tls_st, tls_it = int((st & tl).sum()), int((it & tl).sum())
        dw_st, dw_it = int((st & dw).sum()), int((it & dw).sum())
        r_st, r_it = _ratio(tls_st, n_st), _ratio(tls_it, n_it)
        rec = {TF: t, "tf_label": label,
               "calc_standard": n_st, "dw_standard": dw_st, "tls_standard": tls_st, "tls_per_calc_standard": r_st,
               "calc_pretrain": n_pre, "calc_iterative": n_it, "calc_iterative_all": n_pre + n_it,
               "dw_iterative": dw_it, "tls_iterative": tls_it, "tls_per_calc_iterative": r_it,
               "tls_per_calc_iterative_all": _ratio(tls_it, n_pre + n_it)}
        for p, n, k_tls, k_dw in (("standard", n_st, tls_st, dw_st), ("iterative", n_pre + n_it, tls_it, dw_it)):
            for what, k in (("tls", k_tls), ("dw", k_dw)):
                name = f"{what}_per_1000_{p}"
                rec[name], rec[name + "_lo"], rec[name + "_hi"] = rate_per(k, n, 1000.0, level)
        rec["gain"], rec["gain_lo"], rec["gain_hi"] = rate_ratio(tls_it, n_pre + n_it, tls_st, n_st, level)
        rec["gain_paper"] = _ratio(r_it, r_st)
        rec["tls_iterative_below_filter"] = int((it & tl & below).sum()) if below is not None else float("nan")
        rows.append(rec)
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def _ratio(a, b) -> float:
    a, b = float(a), float(b)
    return a / b if b > 0 and np.isfinite(a) else float("nan")


# --------------------------------------------------------------------------- Table II
@dataclass(frozen=True)
class Step:
    name: str
    unit: str  # what the per-unit time is per
    paper_step: str = ""
    paper_s_min: float = float("nan")
    paper_s_max: float = float("nan")


#: pipeline steps, their unit of work and the paper's Table II (Intel i9-9980HK, one CPU)
STEPS = [
    Step("prepare", "glass"),
    Step("explore", "glass"),
    Step("pairs", "pair"),
    Step("collect", "pair", "Collection of an IS pair", 50.0, 50.0),  # prepare + explore + pairs per pair
    Step("neb", "exact calculation", "NEB+Schrödinger for an IS pair", 1e2, 1e2),
    Step("learn", "round", "Train DW classifier; train QS predictor (each)", 1e3, 1e4),
    Step("predict", "predicted pair", "Predict DW; predict E_qs, per IS pair (each)", 1e-5, 1e-4),
]
_COLLECT_FROM = ("prepare", "explore", "pairs")
#: which count divides each step's total time
_UNIT_COUNT = {"glass": "n_glasses", "pair": "n_pairs", "exact calculation": "n_exact", "round": "n_rounds",
               "predicted pair": "n_predicted"}
BENCH_NUMERIC = ["s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time"]


def read_benchmarks(benchmark_dir, files=None) -> pd.DataFrame:
    """Every Snakemake benchmark TSV under ``benchmark_dir`` (or only ``files``, paths under it): one row per
    file (repeats averaged) with rule (first directory level below benchmark_dir, or the file stem for files
    directly in it), file, n_repeats and the numeric columns (s, max_rss in MB, ..., cpu_time in s)."""
    root = Path(benchmark_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark directory {root} does not exist; run the workflow (its rules "
                                "write benchmark: files there) or give the right --benchmarks")
    rows = []
    for f in sorted(root.rglob("*.tsv")) if files is None else sorted(Path(f) for f in files):
        rel = f.relative_to(root)
        rule = rel.parts[0] if len(rel.parts) > 1 else f.stem
        try:
            b = pd.read_csv(f, sep="\t", na_values=["-", "NA", ""])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise ValueError(f"{f}: not a Snakemake benchmark file ({e}); delete it and rerun the rule") from e
        if "s" not in b.columns:
            raise ValueError(f"{f}: no column 's' (wall-clock seconds); not a Snakemake benchmark file - "
                             "delete it and rerun the rule")
        if b.empty:
            continue
        rec = {"rule": rule, "file": str(rel), "n_repeats": len(b)}
        for c in BENCH_NUMERIC:
            rec[c] = float(pd.to_numeric(b[c], errors="coerce").mean()) if c in b.columns else float("nan")
        rows.append(rec)
    return pd.DataFrame(rows, columns=["rule", "file", "n_repeats", *BENCH_NUMERIC])


#: rule names that are another step's (as in the workflow: ``train`` fits the models of the learn step)
_RULE_ALIASES = {"features": "pairs", "train": "learn"}
#: benchmark folders of what is made from the results (figures, tables): not part of the study's cost
REPORT_RULES = ("figures", "tables")
#: which procedure a job is charged to (see :func:`job_procedure`)
SHARED, ITERATIVE, STANDARD = "shared", PROCEDURE_ITERATIVE, PROCEDURE_STANDARD
_LOOP_STEPS = ("learn", "predict", "shap")


def _step_of(rule: str, rule_steps: Mapping[str, str] | None) -> str:
    if rule_steps and rule in rule_steps:
        return rule_steps[rule]
    for s in STEPS:
        if s.name != "collect" and (rule == s.name or rule.startswith(s.name + "_")):
            return s.name
    for alias, step in _RULE_ALIASES.items():
        if rule == alias or rule.startswith(alias + "_"):
            return step
    return rule


def study_benchmark_files(benchmark_dir) -> list[Path]:
    """The benchmark files of a study's pipeline jobs: every ``*.tsv`` under ``benchmark_dir`` but those of
    the figures and tables (:data:`REPORT_RULES`), which only read the results."""
    root = Path(benchmark_dir)
    return [f for f in sorted(root.rglob("*.tsv")) if f.relative_to(root).parts[0] not in REPORT_RULES]


def job_procedure(rule: str, file: str, step: str | None = None) -> str:
    """The procedure a job's cost is charged to, from its benchmark file (path relative to the benchmark
    directory): 'standard' for the standard procedure's own jobs (a path part ``baseline``: its batch, NEB
    and gather jobs), 'iterative' for the loop's own jobs (a path part ``loop`` or ``round_<i>``, or the
    learn, predict and shap steps: batches, NEB, training, prediction), 'shared' for the rest (preparation,
    exploration, pairs and features, the tls table): each procedure needs them."""
    parts = Path(file).with_suffix("").parts
    if "baseline" in parts:
        return STANDARD
    step = step or _step_of(rule, None)
    if "loop" in parts or any(p.startswith("round_") and p[6:].isdigit() for p in parts) or step in _LOOP_STEPS:
        return ITERATIVE
    return SHARED


def job_cpu_seconds(bench: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """CPU seconds of every job of :func:`read_benchmarks`' table: its cpu_time, or its wall-clock time s
    when cpu_time is missing or 0 (Snakemake does not always sample a short job).  Returns (seconds, whether
    the wall-clock time stands in)."""
    cpu = bench["cpu_time"].to_numpy(float)
    wall = ~(np.isfinite(cpu) & (cpu > 0))
    return np.where(wall, bench["s"].to_numpy(float), cpu), wall


def tls_found(tls, tls_threshold: float | None = None) -> dict[str, int]:
    """TLS found, as distinct pairs (glass, is_a, is_b when the table has them): {'all': by either
    procedure, 'iterative': procedure 'iterative' or 'both', 'standard': 'standard' or 'both'}."""
    df = read_table(tls, "tls table", [C.PROCEDURE, C.IS_TLS] if tls_threshold is None else [C.PROCEDURE])
    df = df[tls_mask(df, tls_threshold)]
    proc = df[C.PROCEDURE].astype(str)
    ids = [c for c in C.IDS if c in df.columns]

    def n(sel: pd.DataFrame) -> int:
        return len(sel.drop_duplicates(ids)) if ids else len(sel)

    return {"all": n(df), ITERATIVE: n(df[proc.isin([PROCEDURE_ITERATIVE, PROCEDURE_BOTH])]),
            STANDARD: n(df[proc.isin([PROCEDURE_STANDARD, PROCEDURE_BOTH])])}


def n_exact_calculations(tls) -> int:
    """Exact calculations spent: one per row of the tls table, two for a pair both procedures computed (each
    computed it in its own jobs)."""
    df = read_table(tls, "tls table", [C.PROCEDURE])
    return int(len(df) + (df[C.PROCEDURE].astype(str) == PROCEDURE_BOTH).sum())


def table2(benchmark_dir, *, n_glasses: int | None = None, n_pairs: int | None = None,
           n_exact: int | None = None, n_rounds: int | None = None, n_predicted: int | None = None,
           rule_steps: Mapping[str, str] | None = None, files=None, tls=None,
           tls_threshold: float | None = None) -> pd.DataFrame:
    """Time per pipeline step, measured, beside the paper's Table II; the study's total CPU time and the
    TLS it found per CPU-hour.

    benchmark_dir: ``results/{study}/benchmarks``; files ``{rule}/...tsv`` in Snakemake's benchmark format.
    A rule belongs to the step of the same name or with that name as a prefix (``neb``, ``neb_round`` ->
    neb; ``features`` -> pairs; ``train`` -> learn); ``rule_steps`` overrides ({rule: step}).  Rules of no
    known step get a row of their own (unit: job).  ``files``: only these benchmark files (default: all
    under benchmark_dir).  tls: ``results/{study}/tls.parquet`` (path or DataFrame) for the TLS counts of
    the total rows (NaN without it); TLS = is_tls, or DW with E_qs < tls_threshold.

    Columns: step, unit, n_jobs, total_s (sum of wall-clock seconds over jobs), cpu_s (sum of CPU seconds:
    each job's cpu_time, or its wall-clock s when cpu_time is missing or 0), n_cpu_from_wall (jobs whose
    cpu_s is their wall-clock time), max_rss_mb (largest over jobs), s_per_job, n_units, s_per_unit
    (total_s / n_units; NaN when the count is not given), paper_step, paper_s_min, paper_s_max, tls,
    tls_per_cpu_hour (total rows only).  Units and their counts: prepare, explore per glass (n_glasses);
    pairs per pair (n_pairs); neb per exact calculation (n_exact); learn per round (n_rounds); predict per
    predicted pair (n_predicted: pairs x rounds when every round predicts all pairs).  'collect' is
    prepare + explore + pairs per pair, the paper's "collection of an IS pair".

    Three total rows (unit: study) close the table:

    * total: every job given; tls = TLS found by either procedure (distinct pairs); tls_per_cpu_hour =
      tls / (cpu_s / 3600);
    * total_iterative: the jobs shared by both procedures (preparation, exploration, pairs: each procedure
      needs them, so each is charged with all of it) plus the loop's own jobs (its batches, NEB jobs,
      training, prediction); tls = TLS found by the loop (procedure 'iterative' or 'both');
    * total_standard: the shared jobs plus the standard procedure's own (its batch and NEB jobs); tls = its
      TLS ('standard' or 'both').  A pair both procedures computed was computed in the jobs of each.
      See :func:`job_procedure` for how a job is charged; a procedure with no job of its own among the
      files has NaN tls_per_cpu_hour.
    """
    bench = read_benchmarks(benchmark_dir, files)
    counts = {"n_glasses": n_glasses, "n_pairs": n_pairs, "n_exact": n_exact, "n_rounds": n_rounds,
              "n_predicted": n_predicted}
    bench["step"] = [_step_of(r, rule_steps) for r in bench["rule"]]
    bench["procedure"] = [job_procedure(r, f, s) for r, f, s in zip(bench["rule"], bench["file"], bench["step"])]
    bench["cpu_s"], bench["cpu_from_wall"] = job_cpu_seconds(bench)
    rows = []

    def summary(sel: pd.DataFrame) -> dict:
        if sel.empty:
            return {"n_jobs": 0, "total_s": float("nan"), "cpu_s": float("nan"), "n_cpu_from_wall": 0,
                    "max_rss_mb": float("nan")}
        return {"n_jobs": len(sel), "total_s": float(sel["s"].sum()), "cpu_s": float(sel["cpu_s"].sum()),
                "n_cpu_from_wall": int(sel["cpu_from_wall"].sum()), "max_rss_mb": float(sel["max_rss"].max())}

    no_paper = {"paper_step": "", "paper_s_min": float("nan"), "paper_s_max": float("nan")}
    known = {s.name for s in STEPS}
    for s in STEPS:
        sel = bench[bench["step"].isin(_COLLECT_FROM)] if s.name == "collect" else bench[bench["step"] == s.name]
        rec = {"step": s.name, "unit": s.unit, **summary(sel)}
        if s.name == "collect" and not set(_COLLECT_FROM) <= set(bench["step"]):
            rec["total_s"] = float("nan")  # incomplete: a part of the collection was not benchmarked
        n_units = counts[_UNIT_COUNT[s.unit]]
        rec["n_units"] = float(n_units) if n_units is not None else float("nan")
        rec["paper_step"], rec["paper_s_min"], rec["paper_s_max"] = s.paper_step, s.paper_s_min, s.paper_s_max
        rows.append(rec)
    for step in sorted(set(bench["step"]) - known):
        sel = bench[bench["step"] == step]
        rows.append({"step": step, "unit": "job", **summary(sel), "n_units": float(len(sel)), **no_paper})
    found = tls_found(tls, tls_threshold) if tls is not None else {}
    for name, procs, key in (("total", (SHARED, ITERATIVE, STANDARD), "all"),
                             ("total_iterative", (SHARED, ITERATIVE), ITERATIVE),
                             ("total_standard", (SHARED, STANDARD), STANDARD)):
        rec = {"step": name, "unit": "study", **summary(bench[bench["procedure"].isin(procs)]),
               "n_units": float("nan"), **no_paper}
        n_tls = found.get(key)
        rec["tls"] = float(n_tls) if n_tls is not None else float("nan")
        own = key == "all" or (bench["procedure"] == key).any()
        rec["tls_per_cpu_hour"] = _ratio(rec["tls"], rec["cpu_s"] / 3600.0) if own else float("nan")
        rows.append(rec)
    out = pd.DataFrame(rows)
    out["s_per_job"] = out["total_s"] / out["n_jobs"].where(out["n_jobs"] > 0)
    out["s_per_unit"] = out["total_s"] / out["n_units"].where(out["n_units"] > 0)
    return out.reindex(columns=TABLE2_COLUMNS)


TABLE2_COLUMNS = ["step", "unit", "n_jobs", "total_s", "cpu_s", "n_cpu_from_wall", "max_rss_mb", "s_per_job",
                  "n_units", "s_per_unit", "paper_step", "paper_s_min", "paper_s_max", "tls", "tls_per_cpu_hour"]


def counts_from_tables(tls=None, pairs=None, predictions=None) -> dict:
    """Unit counts for :func:`table2` from the workflow's tables (any may be None).

    tls -> n_exact (:func:`n_exact_calculations`), n_rounds (distinct rounds >= 0); pairs (Parquet files)
    -> n_pairs (rows, read from the file footers) and n_glasses (files); predictions (Parquet files) ->
    n_predicted (rows); without them n_predicted = n_pairs x n_rounds.
    """
    import pyarrow.parquet as pq

    out: dict = {}
    if tls is not None:
        t = read_table(tls, "tls table", [C.ROUND])
        out["n_exact"] = n_exact_calculations(t) if C.PROCEDURE in t.columns else len(t)
        r = t[C.ROUND].to_numpy()
        out["n_rounds"] = int(np.unique(r[r >= 0]).size)
    if pairs is not None:
        files = [pairs] if isinstance(pairs, (str, Path)) else list(pairs)
        out["n_pairs"] = int(sum(pq.ParquetFile(f).metadata.num_rows for f in files))
        out["n_glasses"] = len(files)
    if predictions is not None:
        files = [predictions] if isinstance(predictions, (str, Path)) else list(predictions)
        out["n_predicted"] = int(sum(pq.ParquetFile(f).metadata.num_rows for f in files))
    elif "n_pairs" in out and out.get("n_rounds"):
        out["n_predicted"] = out["n_pairs"] * out["n_rounds"]
    return out


__all__ = ["PAPER_TABLE1", "REPORT_RULES", "STEPS", "Step", "counts_from_tables", "job_cpu_seconds", "job_procedure",
           "n_exact_calculations", "read_benchmarks", "study_benchmark_files", "table1", "table2", "tls_found"]
