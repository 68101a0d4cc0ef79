import json
import logging

from tlspipe.pairs import featurise_store
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
s = featurise_store(snakemake.input.store, snakemake.output[0], glass=snakemake.wildcards.glass, m=p.m,
                    max_delta_e=p.max_delta_e, threads=snakemake.threads)
logging.getLogger("tlspipe").info("pairs: %s", json.dumps(s, default=str))
