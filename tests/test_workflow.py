"""The Snakemake workflow on the tiny test config: real targets, resume, config validation."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path, *args, check=True):
    # targets and flags first: --configfile takes several values and would swallow a target after it
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--cores", "2", "--configfile", str(REPO / "config" / "test.yaml")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake failed ({' '.join(args)}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    wd = tmp_path_factory.mktemp("study")
    shutil.copytree(REPO / "config", wd / "config")
    return wd


def test_unknown_config_key_is_named(study):
    bad = study / "bad.yaml"
    bad.write_text("explore:\n  n_trj: 3\n")
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                        "--directory", str(study), "--cores", "1", "--configfile", str(bad)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "n_trj" in (r.stdout + r.stderr)
    assert "config.schema.yaml" in (r.stdout + r.stderr)


def test_dry_run_default_config(study):
    r = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                        str(study), "-n", "--cores", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_glass_to_pairs(study):
    run_snakemake(study, "results/test/pairs/tf0.092_g000.parquet")
    g = study / "results/test/glasses/tf0.092_g000"
    meta = json.loads((g / "equilibrated.json").read_text())
    assert 0.0 < meta["swap_acceptance"] < 1.0
    with h5py.File(g / "is.h5") as h:
        n_is = h["energy"].shape[0]
        assert h["positions"].shape == (n_is, 200, 3)
    assert n_is >= 2
    df = pd.read_parquet(study / "results/test/pairs/tf0.092_g000.parquet")
    assert len(df) > 0 and (df["delta_e"] <= 1.0).all()
    for rule in ("prepare", "explore", "pairs"):
        assert (study / f"results/test/benchmarks/{rule}/tf0.092_g000.tsv").exists()
        assert (study / f"results/test/logs/{rule}/tf0.092_g000.log").exists()


def test_explore_resumes_from_checkpoints(study):
    """Delete the store and one trajectory checkpoint: the rerun redoes only that trajectory."""
    g = study / "results/test/glasses/tf0.092_g000"
    ck = sorted((g / "explore_checkpoints").glob("traj_*.npz"))
    assert len(ck) == 2
    before = {p.name: p.stat().st_mtime_ns for p in ck}
    with h5py.File(g / "is.h5") as h:
        n_is = h["energy"].shape[0]
    (g / "is.h5").unlink()
    ck[1].unlink()
    run_snakemake(study, str(g.relative_to(study) / "is.h5"))
    after = {p.name: p.stat().st_mtime_ns for p in sorted((g / "explore_checkpoints").glob("traj_*.npz"))}
    assert after[ck[0].name] == before[ck[0].name]  # not redone
    assert ck[1].name in after
    with h5py.File(g / "is.h5") as h:
        assert h["energy"].shape[0] == n_is  # same seeds -> same IS
