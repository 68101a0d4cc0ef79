from tlspipe.learn.rounds import shap_round
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i, o, seed = snakemake.input, snakemake.output, snakemake.params.seed
shap_round(i.dw, i.pairs, o.dw, seed)
shap_round(i.qs, i.pairs, o.qs, seed)
