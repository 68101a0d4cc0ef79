from tlspipe.sample.cli import run_explore
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
run_explore(p.glass, p.explore, p.engine, snakemake.input.data, snakemake.output.store, p.checkpoints,
            workers=snakemake.threads, log_path=snakemake.log[0])
