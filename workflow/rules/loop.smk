# The iterative search as a checkpoint loop, and the standard procedure beside it.
#
# Round i: checkpoint `batch` writes loop/round_i/batch.parquet and its chunks; `neb` computes each chunk;
# checkpoint `gather` collects them; `train` fits the models on rounds 0..i; `predict` scores every pair, one
# job per glass; the next round's batch comes from those predictions.  How many rounds run is decided in
# `loop_rounds()` (common.smk) from the exact results and the *current* config each time Snakemake plans;
# nothing is frozen in a file.  After changing loop.max_rounds or loop.stop_fraction of a finished study,
# rerun with `-R tls_table`: Snakemake never reruns a job with an existing output because of a checkpoint it
# has not run, so the loop's final step is named; its inputs then plan and run the missing rounds one after
# another.


checkpoint batch:
    """The pairs of round i: K0 screened/random pairs for round 0 (with loop.pretrain: the K0 lowest E_qs
    predicted by the pretrained models), then the lowest predicted E_qs."""
    input:
        unpack(batch_inputs),
    output:
        batch=f"{R}/loop/round_{{round}}/batch.parquet",
        chunks=directory(f"{R}/loop/round_{{round}}/chunks"),
    log:
        f"{R}/logs/batch/round_{{round}}.log",
    benchmark:
        f"{R}/benchmarks/batch/round_{{round}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        select=batch_params,
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
    conda:
        "../../envs/tlspipe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        select=config_provider({"min_transitions": "baseline.min_transitions", "chunk": "neb.chunk"}),
    script:
        "../scripts/batch.py"


checkpoint gather:
    """All exact results of one round (or of the standard procedure) in one table."""
    input:
        stage_chunks,
    output:
        f"{R}/{{stage}}/exact.parquet",
    log:
        f"{R}/logs/gather/{{stage}}.log",
    benchmark:
        f"{R}/benchmarks/gather/{{stage}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/gather.py"
