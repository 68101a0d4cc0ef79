from tlspipe.loop.run import predict_round
from tlspipe.workflow import glass_table, setup_logging

setup_logging(snakemake.log[0])
i = snakemake.input
glass_tf = {g["glass"]: g["tf"] for g in glass_table(snakemake.config)}
predict_round(snakemake.config, {"dw": i.dw, "qs": i.qs, "barrier": i.barrier}, i.pairs, glass_tf,
              snakemake.output[0], threads=snakemake.threads)
