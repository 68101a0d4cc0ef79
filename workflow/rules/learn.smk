# The learning steps of a round: `train` fits the DW classifier and the E_qs and barrier regressors on the
# exact results of rounds 0..i, `predict` scores every pair of a glass, `shap` explains the models.


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
        learn=config_provider("learn"),
        seed=config_provider("seed"),
        min_train_dw=config_provider("loop.min_train_dw"),
        units=config_provider("units"),
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
        min_hops=config_provider("loop.min_hops"),
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
        seed=config_provider("seed"),
    script:
        "../scripts/shap.py"
