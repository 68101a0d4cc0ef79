# The iterative search as a checkpoint loop, and the standard procedure beside it.
#
# Round i: checkpoint `batch` writes loop/round_i/batch.parquet and its chunks; `neb` computes each chunk;
# checkpoint `gather` collects them; `train` fits the models on rounds 0..i; `predict` scores every pair;
# the next round's batch comes from those predictions.  How many rounds run is decided in `loop_rounds()`
# from the exact results and the *current* config each time Snakemake plans; nothing is frozen in a file.
# After changing loop.max_rounds or loop.stop_fraction of a finished study, rerun with `-R tls_table`:
# Snakemake never reruns a job with an existing output because of a checkpoint it has not run, so the
# loop's final step is named; its inputs then plan and run the missing rounds one after another.
import os
import sys

import pandas as pd

from tlspipe import columns as C
from tlspipe.loop import should_stop
from tlspipe.loop.run import chunk_names

# every round adds a few levels to the DAG that Snakemake walks recursively
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))



wildcard_constraints:
    round=r"\d+",
    stage=r"loop/round_\d+|baseline",
    chunk=r"\d+",


def batch_inputs(wc):
    i = int(wc.round)
    if i == 0:
        return {"pairs": PAIR_FILES}
    return {
        "pairs": PAIR_FILES,
        "predictions": f"{R}/loop/round_{i - 1}/predictions.parquet",
        "done": [f"{R}/loop/round_{k}/exact.parquet" for k in range(i)],
    }


checkpoint batch:
    """The pairs of round i: K0 screened/random pairs for round 0, then the lowest predicted E_qs."""
    input:
        unpack(batch_inputs),
    output:
        batch=f"{R}/loop/round_{{round}}/batch.parquet",
        chunks=directory(f"{R}/loop/round_{{round}}/chunks"),
    log:
        f"{R}/logs/batch/round_{{round}}.log",
    benchmark:
        f"{R}/benchmarks/batch/round_{{round}}.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/batch.py"


checkpoint baseline_batch:
    """The standard procedure: every pair with min(T_ab, T_ba) >= baseline.min_transitions."""
    input:
        pairs=PAIR_FILES,
    output:
        batch=f"{R}/baseline/batch.parquet",
        chunks=directory(f"{R}/baseline/chunks"),
    log:
        f"{R}/logs/batch/baseline.log",
    benchmark:
        f"{R}/benchmarks/batch/baseline.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/batch.py"


def stage_chunks(wc):
    if wc.stage == "baseline":
        d = checkpoints.baseline_batch.get().output.chunks
    else:
        d = checkpoints.batch.get(round=wc.stage.split("_")[-1]).output.chunks
    return [f"{R}/{wc.stage}/exact/{c}.parquet" for c in chunk_names(d)]


checkpoint gather:
    """All exact results of one round (or of the standard procedure) in one table."""
    input:
        stage_chunks,
    output:
        f"{R}/{{stage}}/exact.parquet",
    log:
        f"{R}/logs/gather/{{stage}}.log",
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/gather.py"


def _stop(exact):
    return should_stop(exact, config["tls_threshold"], config["loop"]["max_rounds"], config["loop"]["stop_fraction"])


def loop_rounds():
    """Rounds 0..n of the loop under the current stop rule.

    Each round's results are asked for with checkpoints.gather.get(): while a round is missing this raises,
    Snakemake plans that round, and after it the jobs that called this are evaluated again - so one run of
    Snakemake goes round after round until the stop rule says stop.
    """
    exact = []
    i = 0
    while True:
        f = checkpoints.gather.get(stage=f"loop/round_{i}").output[0]
        if not os.path.exists(f):  # being rewritten right now: wait for it as a plain input
            return list(range(i + 1))
        exact.append(pd.read_parquet(f, columns=[C.STATUS, C.E_QS]))
        if _stop(exact)[0]:
            return list(range(i + 1))
        i += 1


rule train:
    """DW classifier, E_qs and barrier regressors on every exact result of rounds 0..i."""
    input:
        pairs=PAIR_FILES,
        exact=lambda wc: [f"{R}/loop/round_{k}/exact.parquet" for k in range(int(wc.round) + 1)],
    output:
        dw=directory(f"{R}/loop/round_{{round}}/models/dw"),
        qs=directory(f"{R}/loop/round_{{round}}/models/qs"),
        barrier=directory(f"{R}/loop/round_{{round}}/models/barrier"),
    log:
        f"{R}/logs/train/round_{{round}}.log",
    benchmark:
        f"{R}/benchmarks/train/round_{{round}}.tsv"
    threads: config["learn"]["threads"]
    resources:
        mem_mb=4000,
        runtime=lambda wc, attempt: 10 + 3 * int(config["learn"]["time_budget"] or 600) // 60,
    script:
        "../scripts/train.py"


rule predict:
    """Predicted DW probability, E_qs and barrier of every pair of every glass."""
    input:
        pairs=PAIR_FILES,
        dw=f"{R}/loop/round_{{round}}/models/dw",
        qs=f"{R}/loop/round_{{round}}/models/qs",
        barrier=f"{R}/loop/round_{{round}}/models/barrier",
    output:
        f"{R}/loop/round_{{round}}/predictions.parquet",
    log:
        f"{R}/logs/predict/round_{{round}}.log",
    benchmark:
        f"{R}/benchmarks/predict/round_{{round}}.tsv"
    threads: config["learn"]["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/predict.py"


rule shap:
    """SHAP values of the DW classifier and the E_qs regressor of round i on a sample of pairs."""
    input:
        pairs=PAIR_FILES,
        dw=f"{R}/loop/round_{{round}}/models/dw",
        qs=f"{R}/loop/round_{{round}}/models/qs",
    output:
        dw=f"{R}/loop/round_{{round}}/shap_dw.parquet",
        qs=f"{R}/loop/round_{{round}}/shap_qs.parquet",
    log:
        f"{R}/logs/shap/round_{{round}}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/shap.py"


rule tls_table:
    """Every pair computed exactly, with features, status, E_qs, round and procedure."""
    input:
        pairs=PAIR_FILES,
        loop=lambda wc: [f"{R}/loop/round_{k}/exact.parquet" for k in loop_rounds()],
        baseline=f"{R}/baseline/exact.parquet",
        # the models of every round but the last chose a batch; those of the last are trained too
        predictions=lambda wc: [f"{R}/loop/round_{k}/predictions.parquet" for k in loop_rounds()],
    output:
        f"{R}/tls.parquet",
    log:
        f"{R}/logs/tls_table.log",
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/tls_table.py"


rule table1:
    """The paper's Table I on this study: TLS and DW found and exact calculations spent, per procedure and Tf."""
    input:
        f"{R}/tls.parquet",
    output:
        report(f"{R}/tables/table1.csv", caption=_caption("table1"), category="Tables"),
    log:
        f"{R}/logs/table1.log",
    run:
        from tlspipe.loop.run import write_table1

        write_table1(input[0], output[0], min_transitions=config["baseline"]["min_transitions"])
