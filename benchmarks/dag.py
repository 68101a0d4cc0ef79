"""How long Snakemake takes to plan the paper's study (config/paper.yaml: 255 glasses, loop.max_rounds 10)
as its loop goes on, without running any of it.

A fake study is written in a temporary directory round by round: every file the workflow would have made
up to the end of round R - 1 (glasses, IS stores, pair tables, the standard procedure's batch and NEB
results, and per round the batch and its chunks, the NEB results and their gathering, the models, the
per-glass predictions, and the benchmark files table2 reads), with tables of the right columns but a few
rows each and no physics.  The batches are as large as the paper's: round 0 loop.k0 = 5,000 pairs (about
20 per glass: one NEB job per glass), later rounds loop.batch = 500 pairs spread over every glass (255 NEB
jobs, the most a round of 500 can have), the standard procedure 60 pairs per glass (2 jobs each).  Every
round finds TLS, so the stop rule lets the loop run to max_rounds.  After round 11 (rounds 0..10) the
study is finished and its last files (SHAP tables, tls.parquet, tables and figures) are written too.

The files are written in the order the jobs would make them, each step one second later than the one
before (os.utime), all after the last change to workflow/, and no .snakemake metadata is made: Snakemake's default rerun triggers (mtime, params,
input, code, software-env) then find nothing to redo, so the dry run plans what a real run would plan
next: at round R the batch of round R (and what follows it), at round 11 nothing ("Nothing to be done").

Prints per dry run ``dag_dry_run_round_<R>: <seconds> s`` (wall-clock time of
``python -m snakemake -n --configfile config/paper.yaml`` in the fake study's directory) and
``dag_dry_run_round_<R>_cpu`` (its CPU time: the wall-clock time on a busy machine is longer), and the jobs
it planned.

Run: python benchmarks/dag.py [--rounds 1 5 11] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tlspipe import columns as C
from tlspipe.pairs.features import output_schema
from tlspipe.workflow import glass_table, study_config

ROOT = Path(__file__).resolve().parents[1]
PAIRS_PER_GLASS = 128
BASELINE_PER_GLASS = 60
BENCH = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
         "1.0\t0:00:01\t100.0\t200.0\t90.0\t95.0\t0.1\t1.0\t90.0\t0.9\n")


class FakeStudy:
    """Writes the files of results/<study>/ with mtimes one second apart per step of the DAG."""

    def __init__(self, workdir: Path, cfg: dict, start: float):
        self.dir, self.cfg, self.t = workdir, cfg, start
        self.r = workdir / "results" / cfg["study"]
        self.glasses = [g["glass"] for g in glass_table(cfg)]
        self.chunk = cfg["neb"]["chunk"]
        self.n_files = 0

    def step(self):
        self.t += 1.0

    def _stamp(self, path: Path):
        os.utime(path, (self.t, self.t))
        self.n_files += 1

    def text(self, rel: str, content: str = ""):
        p = self.r / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        self._stamp(p)

    def table(self, rel: str, cols: dict, schema: pa.Schema | None = None):
        p = self.r / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols, schema=schema), p)
        self._stamp(p)

    def directory(self, rel: str):
        """A directory output: stamped after its content, with the content's time."""
        p = self.r / rel
        for f in p.rglob("*"):
            os.utime(f, (self.t, self.t))
        os.utime(p, (self.t, self.t))

    def bench(self, rel: str):
        self.text(f"benchmarks/{rel}.tsv", BENCH)

    # ------------------------------------------------------------------ before the loop
    def glasses_and_pairs(self):
        self.text("config.yaml", yaml.safe_dump(self.cfg))
        for g in self.glasses:
            self.text(f"glasses/{g}/equilibrated.data", "fake\n")
            self.text(f"glasses/{g}/equilibrated.json", "{}\n")
            self.bench(f"prepare/{g}")
        self.step()
        for g in self.glasses:
            self.text(f"glasses/{g}/is.h5", "fake\n")  # only its mtime is read by a dry run
            self.bench(f"explore/{g}")
        self.step()
        n = PAIRS_PER_GLASS
        rng = np.random.default_rng(0)
        schema = output_schema(3)
        for g in self.glasses:
            cols = {C.GLASS: [g] * n, C.IS_A: np.arange(n), C.IS_B: np.arange(n) + n}
            for name in C.feature_columns(3):
                cols[name] = rng.integers(0, 5, n) if name in (C.T_AB, C.T_BA) else rng.random(n)
            self.table(f"pairs/{g}.parquet", cols, schema)
            self.bench(f"pairs/{g}")
        self.step()

    # ------------------------------------------------------------------ a batch and its NEB jobs
    def batch(self, stage: str, pairs: dict[str, np.ndarray], bench: str):
        """stage's batch.parquet and chunks/ ({glass: is_a of its pairs}); returns the chunk names."""
        names, rows = [], []
        for g, ia in pairs.items():
            for c, s in enumerate(range(0, len(ia), self.chunk)):
                part = ia[s : s + self.chunk]
                name = f"{g}.{c:03d}"
                self.table(f"{stage}/chunks/{name}.parquet",
                           {C.GLASS: [g] * len(part), C.IS_A: part, C.IS_B: part + PAIRS_PER_GLASS})
                names.append(name)
                rows.append((g, part))
        self.directory(f"{stage}/chunks")
        self.table(f"{stage}/batch.parquet", {C.GLASS: [g for g, p in rows for _ in p],
                                              C.IS_A: np.concatenate([p for _, p in rows]),
                                              C.IS_B: np.concatenate([p for _, p in rows]) + PAIRS_PER_GLASS})
        self.bench(bench)
        self.step()
        return names

    def neb_and_gather(self, stage: str, names: list[str], round_index: int | None):
        frames = []
        for name in names:
            ch = pq.read_table(self.r / stage / "chunks" / f"{name}.parquet")
            n = ch.num_rows
            # the first pair of every NEB job a TLS, the others double wells above the threshold
            e_qs = np.where(np.arange(n) == 0, 1e-3, 5e-3)
            cols = {C.GLASS: ch[C.GLASS], C.IS_A: ch[C.IS_A], C.IS_B: ch[C.IS_B], C.STATUS: [C.STATUS_DW] * n,
                    C.E_QS: e_qs, C.E_QS_K: e_qs * 100.0, C.BARRIER: np.full(n, 0.02),
                    C.DELTA_E: np.full(n, 1e-3), C.PATH_LENGTH: np.ones(n), C.DELTA0: np.full(n, 1e-4),
                    C.N_ITER: np.full(n, 100), C.SECONDS: np.ones(n)}
            self.table(f"{stage}/exact/{name}.parquet", cols)
            self.bench(f"neb/{stage}/{name}")
            frames.append(pa.table(cols))
        self.step()
        t = pa.concat_tables(frames)
        if round_index is not None:
            t = t.append_column(C.ROUND, pa.array(np.full(t.num_rows, round_index)))
        p = self.r / stage / "exact.parquet"
        pq.write_table(t, p)
        self._stamp(p)
        self.bench(f"gather/{stage}")
        self.step()

    # ------------------------------------------------------------------ the study
    def baseline(self):
        ia = np.arange(60, 60 + BASELINE_PER_GLASS)
        names = self.batch("baseline", {g: ia for g in self.glasses}, "batch/baseline")
        self.neb_and_gather("baseline", names, None)

    def round(self, k: int):
        lp = self.cfg["loop"]
        if k == 0:  # loop.k0 pairs spread over the glasses
            counts = np.full(len(self.glasses), lp["k0"] // len(self.glasses))
            counts[: lp["k0"] % len(self.glasses)] += 1
            first = 0
        else:  # loop.batch pairs over as many glasses as can have one (the most NEB jobs a round can have)
            counts = np.full(len(self.glasses), lp["batch"] // len(self.glasses))
            counts[: lp["batch"] % len(self.glasses)] += 1
            first = 20 + 2 * (k - 1) * int(counts.max())
        pairs = {g: np.arange(first, first + c) for g, c in zip(self.glasses, counts) if c}
        stage = f"loop/round_{k}"
        names = self.batch(stage, pairs, f"batch/round_{k}")
        self.neb_and_gather(stage, names, k)
        for kind in ("dw", "qs", "barrier"):
            self.text(f"{stage}/models/{kind}/fallback.json", '{"task": "%s"}' % kind)
            self.directory(f"{stage}/models/{kind}")
        self.bench(f"train/round_{k}")
        self.step()
        for g in self.glasses:
            n = PAIRS_PER_GLASS
            self.table(f"{stage}/predictions/{g}.parquet",
                       {C.GLASS: [g] * n, C.IS_A: np.arange(n), C.IS_B: np.arange(n) + n,
                        C.TF: np.full(n, 0.07), C.PRED_DW: np.full(n, 0.9), C.PRED_E_QS: np.full(n, 1e-3),
                        C.PRED_BARRIER: np.full(n, 0.02)})
            self.bench(f"predict/round_{k}/{g}")
        self.step()

    def finish(self, last: int):
        for kind in ("dw", "qs"):
            self.table(f"loop/round_{last}/shap_{kind}.parquet", {C.DELTA_E: [0.0], f"value_{C.DELTA_E}": [0.0]})
        self.bench(f"shap/round_{last}")
        self.step()
        self.table("tls.parquet", {C.GLASS: [self.glasses[0]], C.IS_A: [0], C.IS_B: [PAIRS_PER_GLASS]})
        self.bench("tls_table")
        self.step()
        for name in ("tables/table1.csv", "tables/table2.csv"):
            self.text(name, "tf\n0.07\n")
        for k in (3, 4, 5, 6):
            self.text(f"figures/fig{k}.png", "fake")
            self.text(f"figures/fig{k}.pdf", "fake")
        self.step()


def dry_run(workdir: Path, configfile: Path) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds of the dry run, and its output."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(configfile)]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return seconds, cpu, r.stdout + r.stderr


def planned(out: str) -> Counter:
    return Counter(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", out, flags=re.M))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "paper.yaml")
    ap.add_argument("--rounds", type=int, nargs="+", default=[1, 5, 11],
                    help="dry runs after this many finished rounds (rounds 0..R-1)")
    ap.add_argument("--keep", type=Path, default=None, help="write the fake study here and keep it")
    args = ap.parse_args(argv)
    configfile = args.configfile.resolve()
    cfg = study_config(yaml.safe_load(configfile.read_text()), [configfile],
                       schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    last = cfg["loop"]["max_rounds"]  # the loop's last round, if every round finds TLS
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="tlspipe-dag-"))
    if args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    try:
        # every output newer than the rule scripts (a script newer than its outputs reruns them), and when
        # possible all in the past
        scripts = max(f.stat().st_mtime for f in (ROOT / "workflow").rglob("*") if f.is_file())
        steps = 10 + 6 * (last + 1)
        study = FakeStudy(workdir, cfg, start=max(time.time() - steps - 60, scripts + 1))
        t0 = time.perf_counter()
        study.glasses_and_pairs()
        study.baseline()
        done, write_s = 0, time.perf_counter() - t0
        for r in sorted(args.rounds):
            t0 = time.perf_counter()
            while done < min(r, last + 1):
                study.round(done)
                done += 1
            if r > last:
                study.finish(last)
            write_s += time.perf_counter() - t0
            seconds, cpu, out = dry_run(workdir, configfile)
            jobs = planned(out)
            print(f"dag_dry_run_round_{r}: {seconds:.1f} s")
            print(f"dag_dry_run_round_{r}_cpu: {cpu:.1f} s")
            what = ", ".join(f"{k} {v}" for k, v in sorted(jobs.items())) or "none"
            nothing = "Nothing to be done" in out
            print(f"#   {len(study.glasses)} glasses, rounds 0..{done - 1} faked ({study.n_files} files); "
                  f"planned: {what}{' (Nothing to be done)' if nothing else ''}")
        print(f"# fake study written in {write_s:.1f} s under {workdir}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
