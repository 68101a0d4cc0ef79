rule explore:
    """MD at T = 0.04 quenched every tau_quench; distinct IS and transition counts into an HDF5 store.
    Per-trajectory checkpoints (not outputs, so they survive a failed or killed job) make reruns resume."""
    input:
        data=f"{R}/glasses/{{glass}}/equilibrated.data",
    output:
        store=f"{R}/glasses/{{glass}}/is.h5",
    log:
        f"{R}/logs/explore/{{glass}}.log",
    benchmark:
        f"{R}/benchmarks/explore/{{glass}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    threads: config["explore"]["workers"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        glass=glass_of,
        explore=config_provider("explore", glass=True),
        engine=config_provider("engine"),
        checkpoints=lambda wildcards: f"{R}/glasses/{wildcards.glass}/explore_checkpoints",
    script:
        "../scripts/explore.py"
