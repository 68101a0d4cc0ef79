from tlspipe.figures.results import write_table2
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i = snakemake.input
write_table2(snakemake.params.benchmark_dir, list(i.benchmarks), i.tls, list(i.pairs), list(i.rounds),
             snakemake.output[0])
