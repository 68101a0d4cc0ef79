from tlspipe.loop.run import build_tls_table
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i, p = snakemake.input, snakemake.params
build_tls_table(i.loop, i.baseline, i.pairs, i.predictions, p.glass_tf, snakemake.output[0], p.tls_threshold)
