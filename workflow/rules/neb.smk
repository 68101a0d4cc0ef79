rule neb:
    """NEB + 1D Schroedinger for one chunk of pairs of one glass.  Finished pairs are kept in a side file
    (not an output, so a killed job keeps them) and the rerun does only the rest."""
    input:
        chunk=f"{R}/{{stage}}/chunks/{{glass}}.{{chunk}}.parquet",
        store=f"{R}/glasses/{{glass}}/is.h5",
    output:
        f"{R}/{{stage}}/exact/{{glass}}.{{chunk}}.parquet",
    params:
        partial=lambda wc: f"{R}/{wc.stage}/partial/{wc.glass}.{wc.chunk}.parquet",
    log:
        f"{R}/logs/neb/{{stage}}/{{glass}}.{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/neb/{{stage}}/{{glass}}.{{chunk}}.tsv"
    threads: config["neb"]["threads"]
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 30 * attempt,
    script:
        "../scripts/neb.py"
