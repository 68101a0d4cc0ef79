import json
import logging

from tlspipe.learn.rounds import train_round
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
o, p = snakemake.output, snakemake.params
s = train_round(snakemake.input.pairs, snakemake.input.get("exact", []), {"dw": o.dw, "qs": o.qs, "barrier": o.barrier},
                learn=p.learn, seed=p.seed, min_train_dw=p.min_train_dw, threads=snakemake.threads,
                pretrain=snakemake.input.get("pretrain", []), units=p.units)
logging.getLogger("tlspipe").info("training: %s", json.dumps(s, default=str))
