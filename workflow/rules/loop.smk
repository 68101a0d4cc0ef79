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
        select={"min_transitions": config["baseline"]["min_transitions"], "chunk": config["neb"]["chunk"]},
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


rule train:
    """DW classifier, E_qs and barrier regressors on every exact result of rounds 0..i."""
    input:
        pairs=PAIR_FILES,
        exact=exact_up_to,
        pretrain=PRETRAIN,
    output:
        dw=directory(f"{R}/loop/round_{{round}}/models/dw"),
        qs=directory(f"{R}/loop/round_{{round}}/models/qs"),
        barrier=directory(f"{R}/loop/round_{{round}}/models/barrier"),
    log:
        f"{R}/logs/train/round_{{round}}.log",
    benchmark:
        f"{R}/benchmarks/train/round_{{round}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    threads: config["learn"]["threads"]
    resources:
        mem_mb=4000,
        # minutes: three fits of at most learn.time_budget seconds each (600 s when unlimited), and a margin
        runtime=10 + 3 * int(config["learn"]["time_budget"] or 600) // 60,
    params:
        # the learn section but its threads (the job's threads: changing them reruns nothing)
        learn={k: v for k, v in config["learn"].items() if k != "threads"},
        seed=config["seed"],
        min_train_dw=config["loop"]["min_train_dw"],
        units=config["units"],
    script:
        "../scripts/train.py"


rule predict:
    """Predicted DW probability, E_qs and barrier of every pair of one glass (with loop.min_hops: of the
    pairs seen hopping, the only candidates); the glasses are parallel jobs."""
    input:
        pairs=f"{R}/pairs/{{glass}}.parquet",
        dw=f"{R}/loop/round_{{round}}/models/dw",
        qs=f"{R}/loop/round_{{round}}/models/qs",
        barrier=f"{R}/loop/round_{{round}}/models/barrier",
    output:
        f"{R}/loop/round_{{round}}/predictions/{{glass}}.parquet",
    log:
        f"{R}/logs/predict/round_{{round}}/{{glass}}.log",
    benchmark:
        f"{R}/benchmarks/predict/round_{{round}}/{{glass}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    threads: config["learn"]["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        glass_tf=glass_tf_of,
        min_hops=config["loop"]["min_hops"],
    script:
        "../scripts/predict.py"


# With loop.pretrain: the models trained on the pretraining tables alone, whose predictions choose round 0.
use rule train as train_pretrained with:
    input:
        pairs=PAIR_FILES,
        pretrain=PRETRAIN,
    output:
        dw=directory(f"{R}/loop/pretrained/models/dw"),
        qs=directory(f"{R}/loop/pretrained/models/qs"),
        barrier=directory(f"{R}/loop/pretrained/models/barrier"),
    log:
        f"{R}/logs/train/pretrained.log",
    benchmark:
        f"{R}/benchmarks/train/pretrained.tsv"


use rule predict as predict_pretrained with:
    input:
        pairs=f"{R}/pairs/{{glass}}.parquet",
        dw=f"{R}/loop/pretrained/models/dw",
        qs=f"{R}/loop/pretrained/models/qs",
        barrier=f"{R}/loop/pretrained/models/barrier",
    output:
        f"{R}/loop/pretrained/predictions/{{glass}}.parquet",
    log:
        f"{R}/logs/predict/pretrained/{{glass}}.log",
    benchmark:
        f"{R}/benchmarks/predict/pretrained/{{glass}}.tsv"


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
    benchmark:
        f"{R}/benchmarks/shap/round_{{round}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        seed=config["seed"],
    script:
        "../scripts/shap.py"


rule tls_table:
    """Every pair computed exactly, with features, status, E_qs, round and procedure."""
    input:
        pairs=PAIR_FILES,
        loop=loop_files("exact.parquet"),
        baseline=f"{R}/baseline/exact.parquet",
        # the models of every round but the last chose a batch; those of the last are trained too
        predictions=loop_predictions,
        # the rounds on disk, named before any checkpoint is resolved: planning speed only (see rounds_on_disk)
        on_disk=rounds_on_disk,
    output:
        f"{R}/tls.parquet",
    log:
        f"{R}/logs/tls_table.log",
    benchmark:
        f"{R}/benchmarks/tls_table.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        glass_tf=GLASS_TF,
        tls_threshold=config["tls_threshold"],
    script:
        "../scripts/tls_table.py"
