rule prepare:
    """One glass: equilibrated at Tf with hybrid MD / swap MC and cooled to T_final (protocol swap), made by MD
    cooling (protocol cooling), or imported from the user's LAMMPS data file and quenched (protocol files)."""
    input:
        unpack(glass_file_of),
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
