from tlspipe.sample.cli import run_prepare
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
run_prepare(p.n_particles, p.glass, p.prepare, snakemake.output.data, snakemake.output.meta, snakemake.log[0])
