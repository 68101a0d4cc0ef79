import json
import logging

from tlspipe.loop.run import train_round
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
o = snakemake.output
s = train_round(snakemake.config, snakemake.input.pairs, snakemake.input.exact,
                {"dw": o.dw, "qs": o.qs, "barrier": o.barrier})
logging.getLogger("tlspipe").info("training: %s", json.dumps(s, default=str))
