import json
import logging

from tlspipe.pairs import featurise_store
from tlspipe.pairs.species import add_species
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
s = featurise_store(snakemake.input.store, snakemake.output[0], glass=snakemake.wildcards.glass, m=p.m,
                    max_delta_e=p.max_delta_e, threads=snakemake.threads)
s["species"] = add_species(snakemake.output[0], snakemake.input.store)  # multi-type models only
logging.getLogger("tlspipe").info("pairs: %s", json.dumps(s, default=str))
