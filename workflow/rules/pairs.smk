rule pairs:
    """Features of every IS pair of one glass with delta_e <= pairs.max_delta_e (incremental: marked
    update so an existing table is extended with the pairs of new IS, not rebuilt)."""
    input:
        store=f"{R}/glasses/{{glass}}/is.h5",
    output:
        update(f"{R}/pairs/{{glass}}.parquet"),
    log:
        f"{R}/logs/pairs/{{glass}}.log",
    benchmark:
        f"{R}/benchmarks/pairs/{{glass}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    threads: config["pairs"]["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        m=config_provider("pairs.m"),
        max_delta_e=config_provider("pairs.max_delta_e"),
    script:
        "../scripts/pairs.py"
