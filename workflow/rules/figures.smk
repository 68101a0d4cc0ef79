# One rule per figure or table of the paper.  Figures read tables only: rebuilding one never reruns physics.
# Each is a target on its own, e.g.  snakemake --cores 2 results/default/figures/fig3.png
def last_round():
    return loop_rounds()[-1]


rule fig3:
    """Predicted vs exact E_qs and barrier, Pearson r, per Tf."""
    input:
        tls=f"{R}/tls.parquet",
    output:
        png=report(f"{R}/figures/fig3.png", caption=_caption("fig3"), category="Figures"),
        pdf=f"{R}/figures/fig3.pdf",
    log:
        f"{R}/logs/figures/fig3.log",
    run:
        from tlspipe.figures import fig3

        fig3(input.tls, output.png)


rule fig4:
    """Confusion quadrants, TLS found vs calculations, n(E_qs)/E_qs, TLS and DW per glass."""
    input:
        tls=f"{R}/tls.parquet",
    output:
        png=report(f"{R}/figures/fig4.png", caption=_caption("fig4"), category="Figures"),
        pdf=f"{R}/figures/fig4.pdf",
    log:
        f"{R}/logs/figures/fig4.log",
    run:
        from tlspipe.figures import fig4

        fig4(input.tls, output.png, config["tls_threshold"], glass_tf=GLASS_TF,
             n_particles=config["n_particles"])


rule fig5:
    """SHAP summaries of the E_qs regressor and the DW classifier of the last round."""
    input:
        qs=lambda wc: f"{R}/loop/round_{last_round()}/shap_qs.parquet",
        dw=lambda wc: f"{R}/loop/round_{last_round()}/shap_dw.parquet",
    output:
        png=report(f"{R}/figures/fig5.png", caption=_caption("fig5"), category="Figures"),
        pdf=f"{R}/figures/fig5.pdf",
    log:
        f"{R}/logs/figures/fig5.log",
    run:
        from tlspipe.figures import fig5

        fig5(input.qs, input.dw, output.png)


rule fig6:
    """Distributions of T_ab + T_ba, delta_e, dr_1, d and delta0 for all pairs, DW and TLS."""
    input:
        pairs=PAIR_FILES,
        tls=f"{R}/tls.parquet",
    output:
        png=report(f"{R}/figures/fig6.png", caption=_caption("fig6"), category="Figures"),
        pdf=f"{R}/figures/fig6.pdf",
    log:
        f"{R}/logs/figures/fig6.log",
    run:
        from tlspipe.figures import fig6

        fig6(list(input.pairs), input.tls, output.png, glass_tf=GLASS_TF)


rule table2:
    """Measured time per step of the pipeline (the rules' benchmark files) beside the paper's Table II."""
    input:
        tls=f"{R}/tls.parquet",
        pairs=PAIR_FILES,
        rounds=lambda wc: [f"{R}/loop/round_{k}/exact.parquet" for k in loop_rounds()],
    output:
        report(f"{R}/tables/table2.csv", caption=_caption("table2"), category="Tables"),
    log:
        f"{R}/logs/figures/table2.log",
    run:
        import pyarrow.parquet as pq

        from tlspipe.figures import table2

        n_pairs = sum(pq.ParquetFile(f).metadata.num_rows for f in input.pairs)
        n_rounds = len(input.rounds)
        t = table2(f"{R}/benchmarks", n_glasses=len(GLASS_NAMES), n_pairs=n_pairs,
                   n_exact=len(pd.read_parquet(input.tls, columns=[C.STATUS])), n_rounds=n_rounds,
                   n_predicted=n_pairs * n_rounds)
        t.to_csv(output[0], index=False)


FIGURES = [f"{R}/figures/fig{k}.png" for k in (3, 4, 5, 6)]
TABLES = [f"{R}/tables/table1.csv", f"{R}/tables/table2.csv"]
