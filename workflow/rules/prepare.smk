rule prepare:
    """Equilibrate one glass at Tf with hybrid MD / swap MC and cool it to T_final."""
    output:
        data=f"{R}/glasses/{{glass}}/equilibrated.data",
        meta=f"{R}/glasses/{{glass}}/equilibrated.json",
    log:
        f"{R}/logs/prepare/{{glass}}.log",
    benchmark:
        f"{R}/benchmarks/prepare/{{glass}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        glass=glass_of,
        n_particles=config_provider("n_particles"),
        prepare=config_provider("prepare", glass=True),
    script:
        "../scripts/prepare.py"
