"""Where a finished study's time went, step by step, and the TLS it found per CPU-hour.

Reads RESULTS_DIR/benchmarks/ (the Snakemake benchmark file of every job of the pipeline; those of the
figures and tables, which only read the results, are left out) and RESULTS_DIR/tls.parquet, through
tlspipe.figures.tables.table2 (the same sums as tables/table2.csv), and prints ``name: value unit`` lines:

- cpu_<step>, wall_<step>: CPU and wall-clock seconds summed over the step's jobs (a job's CPU time is its
  cpu_time, or its wall-clock time when cpu_time is missing or 0: cpu_from_wall_jobs counts those jobs);
- cpu_total: CPU hours of every job, wall_total: wall-clock hours summed over jobs (not the elapsed time:
  jobs run side by side); cpu_total_iterative, cpu_total_standard: the jobs charged to each
  procedure, the shared ones (preparation, exploration, pairs) charged to both in full;
- tls_found (distinct pairs, either procedure) and per procedure; tls_per_cpu_hour (of the whole pipeline)
  and per procedure; exact_calculations (a pair both procedures computed counts twice: it ran in the jobs
  of each) and tls_per_exact_calculation.

Run: python benchmarks/study_cost.py results/default
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tlspipe.figures.tables import n_exact_calculations, study_benchmark_files, table2, tls_found

#: table2 rows that are no step of their own: a sum of other steps' jobs
_NOT_A_STEP = {"collect", "total", "total_iterative", "total_standard"}


def study_cost(results_dir) -> list[tuple[str, float, str]]:
    """(name, value, unit) of every printed line, in order."""
    root = Path(results_dir)
    bench_dir = root / "benchmarks"
    tls = pd.read_parquet(root / "tls.parquet")
    n_exact = n_exact_calculations(tls)
    t = table2(bench_dir, n_exact=n_exact, files=study_benchmark_files(bench_dir), tls=tls).set_index("step")
    lines = []
    steps = t[(t["n_jobs"] > 0) & ~t.index.isin(_NOT_A_STEP)]
    for step, r in steps.iterrows():
        lines += [(f"cpu_{step}", r["cpu_s"], "s"), (f"wall_{step}", r["total_s"], "s")]
    lines.append(("cpu_from_wall_jobs", t.loc["total", "n_cpu_from_wall"], "jobs"))
    lines.append(("jobs", t.loc["total", "n_jobs"], "jobs"))
    lines.append(("cpu_total", t.loc["total", "cpu_s"] / 3600.0, "h"))
    lines.append(("wall_total", t.loc["total", "total_s"] / 3600.0, "h"))
    for p in ("iterative", "standard"):
        lines.append((f"cpu_total_{p}", t.loc[f"total_{p}", "cpu_s"] / 3600.0, "h"))
    found = tls_found(tls)
    lines.append(("tls_found", found["all"], ""))
    for p in ("iterative", "standard"):
        lines.append((f"tls_found_{p}", found[p], ""))
    lines.append(("tls_per_cpu_hour", t.loc["total", "tls_per_cpu_hour"], "1/h"))
    for p in ("iterative", "standard"):
        lines.append((f"tls_per_cpu_hour_{p}", t.loc[f"total_{p}", "tls_per_cpu_hour"], "1/h"))
    lines.append(("exact_calculations", n_exact, ""))
    lines.append(("tls_per_exact_calculation", found["all"] / n_exact if n_exact else float("nan"), ""))
    return lines


def _fmt(value) -> str:
    v = float(value)
    if v.is_integer():
        return str(int(v))
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a finished study's results directory, e.g. results/default")
    args = ap.parse_args(argv)
    for name, value, unit in study_cost(args.results):
        print(f"{name}: {_fmt(value)} {unit}".rstrip())


if __name__ == "__main__":
    main()
