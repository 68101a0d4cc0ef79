"""A tiny study of two glasses at two Tf that starts from the authors' pretraining tables, end to end: the Tf
mapping, grouped cross-validation over several glasses, multi-glass chunks, and round 0 chosen by the
pretrained models."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tlspipe import columns as C
from tlspipe.loop.select import next_batch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "pretraining"
R = "results/test2"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    wd = tmp_path_factory.mktemp("study2")
    over = wd / "two_glasses.yaml"
    over.write_text(
        "study: test2\n"
        "glasses:\n  - {tf: 0.062, count: 1}\n  - {tf: 0.092, count: 1}\n"
        "learn:\n  members: [lightgbm, extratrees]\n  n_folds: 3\n  time_budget: 10\n  threads: 1\n"
        "  regressor_layers: 1\n  exclude_features: [t_ab, t_ba]\n"
        f"loop:\n  k0: 10\n  batch: 6\n  max_rounds: 1\n  min_train_dw: 4\n"
        f"  pretrain: ['{DATA / 'ciarella2023-classifier-T0062.parquet'}', "
        f"'{DATA / 'ciarella2023-predictor-T0062.parquet'}']\n"
    )
    shutil.copytree(REPO / "config", wd / "config")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(wd),
           "--cores", "2", "--configfile", str(REPO / "config" / "test.yaml"), str(over)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return wd / R


def test_both_glasses_carry_their_tf(study):
    tls = pd.read_parquet(study / "tls.parquet")
    assert set(tls[C.GLASS]) <= {"tf0.062_g000", "tf0.092_g000"}
    assert len(set(tls[C.GLASS])) == 2
    for g, tf in tls.groupby(C.GLASS)["tf"]:
        assert set(tf) == {float(g[2:7])}
    pred = pd.read_parquet(study / "loop/round_0/predictions")  # one table per glass
    assert pred.groupby(C.GLASS)["tf"].first().to_dict() == {"tf0.062_g000": 0.062, "tf0.092_g000": 0.092}
    # a glass's NEB chunks hold that glass only
    for f in (study / "loop/round_0/chunks").glob("*.parquet"):
        assert pd.read_parquet(f)[C.GLASS].nunique() == 1


def test_round_0_is_chosen_by_the_pretrained_models(study):
    pred = pd.read_parquet(study / "loop/pretrained/predictions")
    batch = pd.read_parquet(study / "loop/round_0/batch.parquet")
    expected = next_batch(pred, pred.iloc[:0], 10, 0.5, None, 0.0015)
    pd.testing.assert_frame_equal(batch[C.IDS].sort_values(C.IDS).reset_index(drop=True),
                                  expected[C.IDS].sort_values(C.IDS).reset_index(drop=True), check_dtype=False)


def test_every_round_trains_on_the_pretraining_and_its_own_glasses(study):
    log = (study / "logs/train/round_1.log").read_text()
    summary = json.loads(re.search(r" INFO training: (.*)", log).group(1))
    assert summary["n_pretrain"] == 8045
    assert summary["n_own"] == len(pd.read_parquet(study / "loop/round_0/exact.parquet").query(
        "status in ['dw', 'not_dw']")) + len(pd.read_parquet(study / "loop/round_1/exact.parquet").query(
        "status in ['dw', 'not_dw']"))
    manifest = json.loads((study / "loop/round_1/models/dw/manifest.json").read_text())
    # folds grouped by glass: the authors' 294 glasses and the study's own
    assert manifest["training_data"]["n_groups"] >= 295
    assert C.T_AB not in manifest["features"]
