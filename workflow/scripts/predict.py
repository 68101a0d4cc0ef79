from tlspipe.learn.rounds import predict_round
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i = snakemake.input
predict_round({"dw": i.dw, "qs": i.qs, "barrier": i.barrier}, [i.pairs], snakemake.params.glass_tf,
              snakemake.output[0], threads=snakemake.threads, min_hops=snakemake.params.min_hops)
