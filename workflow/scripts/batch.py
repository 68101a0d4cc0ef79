from tlspipe.loop.run import select_baseline, select_initial, select_next
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
cfg, out = snakemake.config, snakemake.output
if snakemake.rule == "baseline_batch":
    select_baseline(cfg, snakemake.input.pairs, out.batch, out.chunks)
elif int(snakemake.wildcards.round) == 0:
    select_initial(cfg, snakemake.input.pairs, out.batch, out.chunks)
else:
    select_next(cfg, snakemake.input.predictions, snakemake.input.done, out.batch, out.chunks)
