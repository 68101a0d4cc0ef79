from tlspipe.path.chunk import run_chunk
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
run_chunk(snakemake.params.options, snakemake.input.store, snakemake.input.chunk, snakemake.output[0],
          snakemake.params.partial)
