# The study's results: tls.parquet (every pair computed exactly, by either procedure), then one rule per
# figure or table of the paper.  Figures read tables only: rebuilding one never reruns physics.
# Each is a target on its own, e.g.  snakemake --cores 2 results/default/figures/fig3.png


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
        tls_threshold=config_provider("tls_threshold"),
    script:
        "../scripts/tls_table.py"


rule fig3:
    """Predicted vs exact E_qs and barrier, Pearson r, per Tf."""
    input:
        tls=f"{R}/tls.parquet",
    output:
        png=report(f"{R}/figures/fig3.png", caption=caption("fig3"), category="Figures"),
        pdf=f"{R}/figures/fig3.pdf",
    log:
        f"{R}/logs/figures/fig3.log",
    benchmark:
        f"{R}/benchmarks/figures/fig3.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    script:
        "../scripts/figure.py"


rule fig4:
    """Confusion quadrants, TLS found vs calculations, n(E_qs)/E_qs, TLS and DW per glass."""
    input:
        tls=f"{R}/tls.parquet",
    output:
        png=report(f"{R}/figures/fig4.png", caption=caption("fig4"), category="Figures"),
        pdf=f"{R}/figures/fig4.pdf",
    log:
        f"{R}/logs/figures/fig4.log",
    benchmark:
        f"{R}/benchmarks/figures/fig4.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    params:
        tls_threshold=config_provider("tls_threshold"),
        glass_tf=GLASS_TF,
        n_particles=config_provider("n_particles"),
    script:
        "../scripts/figure.py"


rule fig5:
    """SHAP summaries of the E_qs regressor and the DW classifier of the last round."""
    input:
        qs=shap_of_last_round("qs"),
        dw=shap_of_last_round("dw"),
    output:
        png=report(f"{R}/figures/fig5.png", caption=caption("fig5"), category="Figures"),
        pdf=f"{R}/figures/fig5.pdf",
    log:
        f"{R}/logs/figures/fig5.log",
    benchmark:
        f"{R}/benchmarks/figures/fig5.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    script:
        "../scripts/figure.py"


rule fig6:
    """Distributions of T_ab + T_ba, delta_e, dr_1, d and delta0 for all pairs, DW and TLS."""
    input:
        pairs=PAIR_FILES,
        tls=f"{R}/tls.parquet",
    output:
        png=report(f"{R}/figures/fig6.png", caption=caption("fig6"), category="Figures"),
        pdf=f"{R}/figures/fig6.pdf",
    log:
        f"{R}/logs/figures/fig6.log",
    benchmark:
        f"{R}/benchmarks/figures/fig6.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    params:
        glass_tf=GLASS_TF,
    script:
        "../scripts/figure.py"


rule table1:
    """The paper's Table I on this study: TLS and DW found and exact calculations spent, per procedure and Tf."""
    input:
        f"{R}/tls.parquet",
    output:
        report(f"{R}/tables/table1.csv", caption=caption("table1"), category="Tables"),
    log:
        f"{R}/logs/table1.log",
    benchmark:
        f"{R}/benchmarks/tables/table1.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    params:
        min_transitions=config_provider("baseline.min_transitions"),
        # round 0 is a random/screened training sample (the paper's K0, left out of gain_paper) unless the
        # study pretrains, when the pretrained models choose it like any later round
        pretrain_round=None if PRETRAIN else 0,
    script:
        "../scripts/table1.py"


rule table2:
    """Measured time per step of the pipeline (the jobs' benchmark files) beside the paper's Table II."""
    input:
        tls=f"{R}/tls.parquet",
        pairs=PAIR_FILES,
        rounds=loop_files("exact.parquet"),
        benchmarks=timed_jobs,
    output:
        report(f"{R}/tables/table2.csv", caption=caption("table2"), category="Tables"),
    log:
        f"{R}/logs/figures/table2.log",
    benchmark:
        f"{R}/benchmarks/tables/table2.tsv"
    conda:
        "../../envs/tlspipe.yaml"
    params:
        benchmark_dir=f"{R}/benchmarks",
    script:
        "../scripts/table2.py"


FIGURES = [f"{R}/figures/fig{k}.png" for k in (3, 4, 5, 6)]
TABLES = [f"{R}/tables/table1.csv", f"{R}/tables/table2.csv"]
