from tlspipe.loop.run import shap_round
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
shap_round(snakemake.config, snakemake.input.dw, snakemake.input.pairs, snakemake.output.dw)
shap_round(snakemake.config, snakemake.input.qs, snakemake.input.pairs, snakemake.output.qs)
