from tlspipe.loop.run import build_tls_table
from tlspipe.workflow import glass_table, setup_logging

setup_logging(snakemake.log[0])
i = snakemake.input
glass_tf = {g["glass"]: g["tf"] for g in glass_table(snakemake.config)}
build_tls_table(snakemake.config, i.loop, i.baseline, i.pairs, i.predictions, glass_tf, snakemake.output[0])
