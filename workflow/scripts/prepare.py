from tlspipe.sample.cli import run_prepare
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
run_prepare(snakemake.config, snakemake.params.glass, snakemake.output.data, snakemake.output.meta, snakemake.log[0])
