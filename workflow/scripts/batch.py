from tlspipe.loop.run import select_baseline, select_initial, select_next
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i, out, select = snakemake.input, snakemake.output, snakemake.params.select
if snakemake.rule == "baseline_batch":
    select_baseline(i.pairs, out.batch, out.chunks, **select)
elif "predictions" not in i.keys():  # round 0 without pretraining
    select_initial(i.pairs, out.batch, out.chunks, **select)
else:
    select_next(i.predictions, i.get("done", []), out.batch, out.chunks, pair_files=i.pairs, **select)
