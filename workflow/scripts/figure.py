import tlspipe.figures as figures
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i, p, png = snakemake.input, snakemake.params, snakemake.output.png
if snakemake.rule == "fig3":
    figures.fig3(i.tls, png)
elif snakemake.rule == "fig4":
    figures.fig4(i.tls, png, p.tls_threshold, glass_tf=p.glass_tf, n_particles=p.n_particles)
elif snakemake.rule == "fig5":
    figures.fig5(i.qs, i.dw, png)
elif snakemake.rule == "fig6":
    figures.fig6(list(i.pairs), i.tls, png, glass_tf=p.glass_tf)
else:
    raise ValueError(f"figure.py: no figure for rule {snakemake.rule}")
