"""Kill the tiny test study at random moments and check that a rerun finishes it with the results of an
uninterrupted run.

One uninterrupted run of the tiny study (``snakemake --cores 2 --configfile config/test.yaml``, in a work
directory of its own, as tests/test_workflow.py runs it) gives the reference results and its duration T.
Then, --kills times: a fresh work directory, the same command started in a process group of its own,
SIGKILL to the whole group (Snakemake and every job it runs) at a moment drawn uniformly in (0, 0.9 T), then
what one types after such a kill: ``snakemake --unlock`` (a killed Snakemake leaves its lock behind) and the
same command; when Snakemake refuses to go on because of outputs of jobs it had in flight
(IncompleteFilesException), the same command with ``--rerun-incomplete`` (counted).  After each rerun:

- the final outputs are compared with the reference's: tls.parquet (the same pairs, and every column equal,
  numbers to a relative 1e-9, but ``seconds``, the time a calculation took), and the energies and content
  sha256 of every IS store;
- every file under results/ is read whole (Parquet, HDF5 datasets, npz members, JSON, YAML, CSV/TSV, the
  ends of PNG and PDF files): a file that does not read is a partial read.

Every run (the reference included) adds ``learn: {time_budget: null}`` to the config: with a wall-clock
budget the models' fits depend on the machine's load, which a kill changes, and the loop's later rounds would
pick other pairs for a reason that has nothing to do with the kill (--keep-time-budget runs test.yaml as is).

Prints one ``# run k`` line per killed run (the moment of the kill, the jobs Snakemake had started and not
finished, with their wildcards, the rerun's time, the verdict) and ``name: value unit`` lines:
  reference_seconds   the uninterrupted run
  fault_runs          runs killed (a run that finished before its kill moment is not counted)
  fault_equal         runs whose rerun gave the reference's results
  fault_partial_read  files, over all runs, that do not read whole after the rerun
  fault_unreadable_at_kill  files that did not read whole right after the kill (before the rerun)
  fault_rerun_failed  reruns that did not finish (exit code != 0)
  fault_rerun_incomplete  reruns that needed --rerun-incomplete
  fault_survivors     processes of a killed run still alive after the kill (then killed by pid)
  fault_set_aside     files moved aside (NEB side files .stale-k/.damaged-k, profiles .damaged)
  fault_leftover_tmp  temporary files of killed writers left in results/ (never read)
  fault_extra_seconds_median  time to the kill + rerun time - reference time: the work the kill cost

Run: python benchmarks/fault_injection.py --kills 10      (about (kills + 1) x 1.2 x T; T is a few minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
STUDY = "test"
IGNORED_COLUMNS = {"seconds"}  # the time a calculation took: not a result


def snakemake_cmd(workdir: Path, cores: int, configfiles, *args) -> list[str]:
    # flags first: --configfile takes several values and would swallow what follows it
    return [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"), "--directory",
            str(workdir), "--cores", str(cores), "--configfile", *map(str, configfiles)]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), e.get("PYTHONPATH")) if p)
    return e


def new_workdir(root: Path, name: str, keep_time_budget: bool) -> tuple[Path, list[Path]]:
    wd = root / name
    shutil.copytree(REPO / "config", wd / "config")
    files = [REPO / "config" / "test.yaml"]
    if not keep_time_budget:
        (wd / "no_time_budget.yaml").write_text("learn:\n  time_budget: null\n")
        files.append(wd / "no_time_budget.yaml")
    return wd, files


def run_to_end(cmd, log: Path) -> tuple[int, float, str]:
    """Run ``cmd`` to its end, its output appended to ``log``: (exit code, seconds, output)."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, "a") as fh:
        fh.write(r.stdout)
    return r.returncode, time.perf_counter() - t0, r.stdout


def processes_in(workdir: Path) -> list[int]:
    """Pids of this user's processes whose working directory or command line is in ``workdir``."""
    found = []
    key = str(workdir)
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(p / "cwd")
            cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone, or not ours
            continue
        if cwd.startswith(key) or key in cmdline:
            found.append(int(p.name))
    return found


def run_and_kill(cmd, log: Path, at: float, workdir: Path) -> tuple[bool, int, float]:
    """Start ``cmd`` in a new process group and SIGKILL the group after ``at`` seconds.  Returns (killed,
    processes that survived the kill, seconds to the kill)."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        p = subprocess.Popen(cmd, env=env(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        p.wait(timeout=at)
        return False, 0, time.perf_counter() - t0  # finished first
    except subprocess.TimeoutExpired:
        pass
    os.killpg(p.pid, signal.SIGKILL)
    t_kill = time.perf_counter() - t0
    p.wait()
    time.sleep(1.0)  # let the kernel finish off the group
    survivors = processes_in(workdir)
    for pid in survivors:  # started (indirectly) by this script: end them one by one
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True, len(survivors), t_kill


def jobs_in_flight(log_text: str) -> list[str]:
    """The jobs a Snakemake log shows started and not finished, as ``rule (wildcards)``."""
    started = {}
    for m in re.finditer(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:    .*\n)+)", log_text, flags=re.M):
        job = re.search(r"^    jobid: (\d+)$", m.group(2), flags=re.M)
        wildcards = re.search(r"^    wildcards: (.*)$", m.group(2), flags=re.M)
        if job:
            started[job.group(1)] = m.group(1) + (f" ({wildcards.group(1)})" if wildcards else "")
    finished = set(re.findall(r"^Finished jobid: (\d+)", log_text, flags=re.M))
    return sorted(r for j, r in started.items() if j not in finished)


# ----------------------------------------------------------------------------------------------- reading
def read_whole(path: Path) -> str | None:
    """None when the file reads whole, else why not."""
    s = path.name
    try:
        if s.endswith(".parquet"):
            import pyarrow.parquet as pq

            pq.read_table(path)
        elif s.endswith(".h5"):
            with h5py.File(path, "r") as h:
                h.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
        elif s.endswith(".npz"):
            with np.load(path) as z:
                for k in z.files:
                    z[k]
        elif s.endswith(".json"):
            json.loads(path.read_text())
        elif s.endswith((".yaml", ".yml")):
            import yaml

            yaml.safe_load(path.read_text())
        elif s.endswith(".csv"):
            pd.read_csv(path)
        elif s.endswith(".tsv"):
            pd.read_csv(path, sep="\t")
        elif s.endswith(".png"):
            if not path.read_bytes().endswith(b"IEND\xaeB`\x82"):
                return "no PNG end"
        elif s.endswith(".pdf"):
            if b"%%EOF" not in path.read_bytes()[-1024:]:
                return "no PDF end"
    except Exception as e:  # any failure to read is what is counted
        return f"{type(e).__name__}: {' '.join(str(e).split())[:120]}"
    return None


def check_files(results: Path) -> tuple[list[str], list[str], list[str]]:
    """(files that do not read whole, files set aside, leftover temporary files) under ``results``."""
    bad, aside, tmp = [], [], []
    for f in sorted(results.rglob("*")):
        if not f.is_file():
            continue
        rel = str(f.relative_to(results))
        if ".tmp" in f.name:
            tmp.append(rel)
            continue
        if re.search(r"\.(stale|damaged)-\d+\.parquet$", f.name) or f.name.endswith(".damaged"):
            aside.append(rel)
        why = read_whole(f)
        if why:
            bad.append(f"{rel} ({why})")
    return bad, aside, tmp


def compare(ref: Path, run: Path) -> list[str]:
    """What differs between two finished studies' results (empty when nothing does)."""
    diffs = []
    a = pd.read_parquet(ref / "tls.parquet")
    b = pd.read_parquet(run / "tls.parquet")
    key = ["glass", "is_a", "is_b"]
    if sorted(a.columns) != sorted(b.columns):
        return [f"tls.parquet columns {sorted(set(a.columns) ^ set(b.columns))}"]
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)[a.columns]
    if len(a) != len(b) or not a[key].astype(str).equals(b[key].astype(str)):
        return [f"tls.parquet pairs: {len(b)} rows, {len(a)} in the reference"]
    for c in a.columns:
        if c in IGNORED_COLUMNS:
            continue
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x.dtype) and pd.api.types.is_numeric_dtype(y.dtype):
            same = np.allclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=0, equal_nan=True)
        else:
            same = x.astype(str).tolist() == y.astype(str).tolist()
        if not same:
            diffs.append(f"tls.parquet column {c}")
    for s in sorted(ref.glob("glasses/*/is.h5")):
        t = run / s.relative_to(ref)
        if not t.exists():
            diffs.append(f"{s.relative_to(ref)} missing")
            continue
        with h5py.File(s) as h, h5py.File(t) as g:
            if not np.array_equal(h["energy"][()], g["energy"][()]):
                diffs.append(f"{s.relative_to(ref)} energies")
            if h.attrs["content_sha256"] != g.attrs["content_sha256"]:
                diffs.append(f"{s.relative_to(ref)} content_sha256")
    return diffs


# ----------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=3, help="killed runs (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", help="where the runs go (default: a new temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory (else only those that differ)")
    ap.add_argument("--keep-time-budget", action="store_true", help="run config/test.yaml as is")
    a = ap.parse_args(argv)

    root = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="tlspipe-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    ref_wd, files = new_workdir(root, "reference", a.keep_time_budget)
    rc, t_ref, _ = run_to_end(snakemake_cmd(ref_wd, a.cores, files), ref_wd / "snakemake.log")
    if rc != 0:
        print(f"the uninterrupted run failed (exit {rc}); see {ref_wd / 'snakemake.log'}", file=sys.stderr)
        return 1
    ref = ref_wd / "results" / STUDY
    print(f"# reference: {t_ref:.1f} s, in {ref_wd}", flush=True)

    n_runs = n_equal = n_failed = n_survivors = n_incomplete = 0
    bad_files, aside_files, tmp_files, extra, damaged_at_kill = [], [], [], [], []
    for k in range(1, a.kills + 1):
        wd, files = new_workdir(root, f"run_{k:02d}", a.keep_time_budget)
        log = wd / "snakemake.log"
        at = float(rng.uniform(0.0, 0.9 * t_ref))
        killed, survivors, t_kill = run_and_kill(snakemake_cmd(wd, a.cores, files), log, at, wd)
        if not killed:
            print(f"# run {k}: finished in {t_kill:.1f} s, before its kill moment {at:.1f} s: not counted", flush=True)
            continue
        n_runs += 1
        n_survivors += survivors
        in_flight = jobs_in_flight(log.read_text(errors="replace"))
        results = wd / "results" / STUDY
        at_kill = check_files(results)[0] if results.is_dir() else []
        damaged_at_kill += at_kill
        with open(log, "a") as fh:
            fh.write(f"\n#### killed at {t_kill:.1f} s; rerun:\n")
        run_to_end(snakemake_cmd(wd, a.cores, files, "--unlock"), log)
        rc, t_rerun, out = run_to_end(snakemake_cmd(wd, a.cores, files), log)
        needed_incomplete = rc != 0 and "IncompleteFilesException" in out
        if needed_incomplete:
            n_incomplete += 1
            rc, t_more, _ = run_to_end(snakemake_cmd(wd, a.cores, files, "--rerun-incomplete"), log)
            t_rerun += t_more
        if rc != 0:
            n_failed += 1
            errors = [ln.strip() for ln in out.splitlines() if re.match(r"\w*(Error|Exception)\b", ln.strip())]
            verdict = f"rerun failed (exit {rc}): {errors[-2:]}"
        else:
            diffs = compare(ref, results)
            n_equal += not diffs
            verdict = "equal" if not diffs else "differs: " + "; ".join(diffs)
        bad, aside, tmp = check_files(results)
        bad_files += [f"run {k}: {f}" for f in bad]
        aside_files += aside
        tmp_files += tmp
        extra.append(t_kill + t_rerun - t_ref)
        print(f"# run {k}: killed at {t_kill:.1f} s during [{', '.join(in_flight) or 'no job'}], "
              f"{survivors} survivors; rerun {t_rerun:.1f} s"
              + (" (with --rerun-incomplete)" if needed_incomplete else "") + f": {verdict}"
              + (f"; unreadable {bad}" if bad else "") + (f"; set aside {aside}" if aside else "")
              + (f"; unreadable right after the kill {at_kill}" if at_kill else ""), flush=True)
        if verdict == "equal" and not bad and not a.keep:
            shutil.rmtree(wd)
    print(f"reference_seconds: {t_ref:.1f} s")
    print(f"fault_runs: {n_runs} runs")
    print(f"fault_equal: {n_equal} runs")
    print(f"fault_partial_read: {len(bad_files)} files")
    print(f"fault_unreadable_at_kill: {len(damaged_at_kill)} files")
    print(f"fault_rerun_failed: {n_failed} runs")
    print(f"fault_rerun_incomplete: {n_incomplete} runs")
    print(f"fault_survivors: {n_survivors} processes")
    print(f"fault_set_aside: {len(aside_files)} files")
    print(f"fault_leftover_tmp: {len(tmp_files)} files")
    if extra:
        print(f"fault_extra_seconds_median: {statistics.median(extra):.1f} s")
    if not a.keep and not a.workdir and n_equal == n_runs and not bad_files:
        shutil.rmtree(root)
    return 0 if n_equal == n_runs and not bad_files else 1


if __name__ == "__main__":
    sys.exit(main())
