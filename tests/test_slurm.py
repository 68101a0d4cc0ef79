"""The workflow on a real SLURM cluster through profiles/slurm (snakemake-executor-plugin-slurm), installed
by `tlspipe install-profile` and used by its name, `--profile slurm`.

Needs a SLURM cluster with the profile's partition.  When there is none (no `sinfo`, or daemons not
running), the test starts a single-node cluster on this machine with .ci/slurm-setup.sh (root, Debian);
when that fails the test fails with the script's output: it never skips, so CI always runs it.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
SETUP = REPO / ".ci" / "slurm-setup.sh"
PAIRS = "results/test/pairs/tf0.092_g000.parquet"
# What the test builds under SLURM: the pairs of the tiny study (prepare -> explore -> pairs).  Set it to
# "all" (the whole tiny study: NEB, learning loop, tables, figures) once every rule of `all` runs; the
# environment variable tries another target without editing this file.
TARGET = os.environ.get("TLSPIPE_SLURM_TARGET", "all")
RUN_TIMEOUT = 600  # s for the whole snakemake run; the suite has 15 min on 2 cores
USABLE = ("idle", "mixed", "allocated", "completing")


def _run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _state_lines(stdout):
    """{job id: state} from 'id|STATE' lines; a state with a reason ('CANCELLED by 0') keeps its first word."""
    out = {}
    for line in stdout.splitlines():
        if "|" in line:
            job, state = line.split("|", 1)
            if job.strip() and state.strip():
                out[job.strip()] = state.split()[0]
    return out


def job_states(ids, run=_run):
    """SLURM's state of every job in `ids`: from squeue (which keeps finished jobs for MinJobAge) and, for
    the jobs squeue no longer knows, from sacct when the cluster keeps accounting.  A job that neither
    knows is 'UNKNOWN': nothing says that it completed."""
    ids = [str(i) for i in ids]
    states = {}
    r = run(["squeue", "-h", "--states=all", "-j", ",".join(ids), "-o", "%i|%T"], timeout=60)
    if r.returncode == 0:  # squeue fails outright when none of the ids is known any more
        states.update(_state_lines(r.stdout))
    missing = [i for i in ids if i not in states]
    if missing:
        try:
            r = run(["sacct", "-n", "-X", "-P", "-j", ",".join(missing), "-o", "JobID,State"], timeout=60)
        except FileNotFoundError:  # no sacct on this machine
            r = None
        if r is not None and r.returncode == 0:
            states.update({k: v for k, v in _state_lines(r.stdout).items() if k in missing})
    return {i: states.get(i, "UNKNOWN") for i in ids}


def not_completed(states):
    """The jobs whose state is anything but COMPLETED (UNKNOWN included), with their states."""
    return {i: s for i, s in states.items() if s != "COMPLETED"}


def test_job_states_count_only_jobs_slurm_knows_as_completed():
    """The state check on fake squeue / sacct answers: a job no longer in squeue is taken from sacct, and a
    job that neither knows is a failure, not a completed job."""

    def fake(squeue_rc, squeue_out, sacct_rc, sacct_out):
        calls = []

        def run(cmd, timeout, **kw):
            calls.append(cmd)
            if cmd[0] == "squeue":
                return subprocess.CompletedProcess(cmd, squeue_rc, squeue_out, "")
            if sacct_rc is None:
                raise FileNotFoundError("sacct")
            return subprocess.CompletedProcess(cmd, sacct_rc, sacct_out, "")
        return run, calls

    run, calls = fake(0, "101|COMPLETED\n102|FAILED\n", 0, "103|COMPLETED\n104|CANCELLED by 0\n")
    states = job_states([101, 102, 103, 104, 105], run)
    assert states == {"101": "COMPLETED", "102": "FAILED", "103": "COMPLETED", "104": "CANCELLED",
                      "105": "UNKNOWN"}
    assert not_completed(states) == {"102": "FAILED", "104": "CANCELLED", "105": "UNKNOWN"}
    assert calls[1][calls[1].index("-j") + 1] == "103,104,105"  # sacct asked only about the others
    # squeue has forgotten every job (it then exits 1) and accounting is off: nothing is known to be done
    run, _ = fake(1, "", 1, "sacct: error: Slurm accounting storage is disabled\n")
    assert not_completed(job_states(["7", "8"], run)) == {"7": "UNKNOWN", "8": "UNKNOWN"}
    run, _ = fake(0, "7|COMPLETED\n", None, "")  # no sacct command at all
    assert not_completed(job_states(["7", "8"], run)) == {"8": "UNKNOWN"}
    # every job known, by one or the other, as completed
    run, calls = fake(0, "7|COMPLETED\n", 0, "8|COMPLETED\n")
    assert not_completed(job_states(["7", "8"], run)) == {}
    run, calls = fake(0, "7|COMPLETED\n8|COMPLETED\n", 0, "")
    assert not_completed(job_states(["7", "8"], run)) == {} and len(calls) == 1  # no sacct needed


def _partition():
    res = yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]
    return str(res["slurm_partition"])


def _node_states(partition):
    """States of the partition's nodes ('idle', 'mixed', ...), or None when SLURM does not answer."""
    if shutil.which("sinfo") is None:
        return None
    try:
        r = _run(["sinfo", "-h", "-p", partition, "-o", "%T"], timeout=30)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    return [s.rstrip("*~#!%$@^-") for s in r.stdout.split()]


@pytest.fixture(scope="module")
def slurm_partition():
    """A partition with a usable node; starts the single-node cluster of .ci/slurm-setup.sh if needed."""
    partition = _partition()
    states = _node_states(partition)
    if not states or not any(s in USABLE for s in states):
        if os.geteuid() != 0:
            pytest.fail(f"no usable SLURM partition '{partition}' (sinfo: {states}) and not root, so "
                        f"{SETUP} cannot install one: run it as root, or set slurm_partition in "
                        f"{PROFILE / 'config.yaml'} to a partition of your cluster")
        try:
            r = _run(["bash", str(SETUP)], timeout=600)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{SETUP} did not finish in 600 s:\n{e.stdout}\n{e.stderr}")
        if r.returncode != 0:
            pytest.fail(f"{SETUP} failed (exit {r.returncode}), SLURM could not be set up:\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        states = _node_states(partition)
        if not states or not any(s in USABLE for s in states):
            pytest.fail(f"after {SETUP}, partition '{partition}' has no usable node (sinfo: {states})")
    # one real job before the workflow, so a broken cluster is named as such
    try:
        r = _run(["srun", "-p", partition, "-t", "1", "-n", "1", "hostname"], timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"'srun -p {partition} hostname' did not run within 120 s: "
                    f"squeue says {_run(['squeue'], timeout=30).stdout}")
    if r.returncode != 0:
        pytest.fail(f"SLURM is up but 'srun -p {partition} hostname' failed:\n{r.stderr[-3000:]}")
    return partition


def _cancel_jobs_in(workdir):
    """scancel every job still queued or running whose working directory is `workdir`."""
    r = _run(["squeue", "-h", "-o", "%i|%Z"], timeout=60)
    ids = [line.split("|", 1)[0] for line in r.stdout.splitlines()
           if "|" in line and Path(line.split("|", 1)[1]) == Path(workdir)]
    if ids:
        _run(["scancel", *ids], timeout=60)
    return ids


@pytest.mark.slow
def test_study_runs_as_slurm_jobs(slurm_partition, tmp_path):
    wd = tmp_path / "study"
    shutil.copytree(REPO / "config", wd / "config")
    # the target first: --configfile takes several values and would swallow it.  Fast polling for the test;
    # no retries so a failure shows at once; the per-job SLURM logs are kept to be checked below.
    # the profile installed under its name, as cluster users do (here into a private XDG_CONFIG_HOME)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    r = _run([sys.executable, "-m", "tlspipe.cli", "install-profile", "slurm"], timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "xdg" / "snakemake" / "slurm" / "config.yaml").is_file()
    cmd = [sys.executable, "-m", "snakemake", TARGET, "--profile", "slurm",
           "--snakefile", str(REPO / "Snakefile"), "--directory", str(wd),
           "--slurm-init-seconds-before-status-checks", "1", "--retries", "0",
           "--slurm-keep-successful-logs", "--configfile", str(REPO / "config" / "test.yaml")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Ctrl-C: snakemake scancels its jobs and exits (SIGTERM would wait for the running jobs)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        left = _cancel_jobs_in(wd)
        pytest.fail(f"snakemake under SLURM did not finish {TARGET} in {RUN_TIMEOUT} s (cancelled "
                    f"jobs {left}); squeue:\n{_run(['squeue'], timeout=30).stdout}\n{out[-4000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = _cancel_jobs_in(wd)
    assert proc.returncode == 0, f"snakemake --profile slurm {TARGET} failed:\n{out[-6000:]}"
    assert not left, f"SLURM jobs {left} still queued after snakemake finished"

    # every rule job went to SLURM: one submission per job, each with its SLURM log
    jobs = re.findall(r"^(?:rule|checkpoint) (\w+):$", out, flags=re.M)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", out, flags=re.M)
    assert jobs, f"snakemake ran no job:\n{out[-3000:]}"
    if TARGET == PAIRS:
        assert sorted(jobs) == ["explore", "pairs", "prepare"]
    assert len(submitted) == len(jobs), f"{len(jobs)} jobs ({jobs}) but {len(submitted)} SLURM submissions"
    logs = wd / ".snakemake" / "slurm_logs"
    rules_submitted = []
    for slurm_id, log in submitted:
        log = Path(log)
        assert log.is_file() and log.stem == slurm_id, f"no SLURM log {log} for job {slurm_id}"
        rule = log.relative_to(logs).parts[0].removeprefix("rule_")
        rules_submitted.append(rule)
        text = log.read_text()
        # the job ran the rule through the plugin's job step inside the allocation
        assert "--executor slurm-jobstep" in text, text[-3000:]
        assert re.search(rf"^(local)?(rule|checkpoint) {rule}:$", text, flags=re.M), text[-3000:]
        assert "Finished jobid" in text, f"SLURM job {slurm_id} ({rule}) did not finish its rule:\n{text[-3000:]}"
    assert sorted(rules_submitted) == sorted(jobs)
    # SLURM itself knows every job as completed (squeue keeps finished jobs for MinJobAge, sacct with
    # accounting): a job it does not know is a failure, never taken for a completed one
    states = job_states([s for s, _ in submitted])
    assert not not_completed(states), f"SLURM jobs not known as COMPLETED: {not_completed(states)}"

    # the target and everything it needs is built and up to date (checked without SLURM)
    if TARGET.startswith("results/"):
        assert (wd / TARGET).stat().st_size > 0
    r = _run([sys.executable, "-m", "snakemake", "-n", TARGET, "--snakefile", str(REPO / "Snakefile"),
              "--directory", str(wd), "--cores", "1", "--configfile", str(REPO / "config" / "test.yaml")],
             timeout=300)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
    for rule in set(jobs) & {"prepare", "explore", "pairs"}:
        assert (wd / f"results/test/logs/{rule}/tf0.092_g000.log").exists()
        assert (wd / f"results/test/benchmarks/{rule}/tf0.092_g000.tsv").exists()
