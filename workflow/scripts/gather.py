from tlspipe.loop.run import gather_exact
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
stage = snakemake.wildcards.stage
gather_exact(list(snakemake.input), snakemake.output[0],
             round_index=None if stage == "baseline" else int(stage.split("_")[-1]))
