from tlspipe.figures.results import write_table1
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
write_table1(snakemake.input[0], snakemake.output[0], min_transitions=snakemake.params.min_transitions,
             pretrain_round=snakemake.params.pretrain_round)
