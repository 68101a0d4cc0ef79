rule neb:
    """NEB + 1D Schroedinger for one chunk of pairs of one glass, one pair after another on one core (chunks
    run in parallel as jobs).  Finished pairs are kept in a side file (not an output, so a killed job keeps
    them) and the rerun does only the rest."""
    input:
        chunk=f"{R}/{{stage}}/chunks/{{glass}}.{{chunk}}.parquet",
        store=f"{R}/glasses/{{glass}}/is.h5",
    output:
        f"{R}/{{stage}}/exact/{{glass}}.{{chunk}}.parquet",
    log:
        f"{R}/logs/neb/{{stage}}/{{glass}}.{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/neb/{{stage}}/{{glass}}.{{chunk}}.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        options=config_provider("neb", with_keys=("units", "tls_threshold")),
        partial=lambda wildcards: f"{R}/{wildcards.stage}/partial/{wildcards.glass}.{wildcards.chunk}.parquet",
    script:
        "../scripts/neb.py"
