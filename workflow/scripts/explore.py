from tlspipe.sample.cli import run_explore
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
run_explore(snakemake.config, snakemake.params.glass, snakemake.input.data, snakemake.output.store,
            snakemake.params.checkpoints, workers=snakemake.threads, log_path=snakemake.log[0])
