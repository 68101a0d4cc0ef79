from pathlib import Path

from tlspipe.loop.run import chunk_names, gather_exact
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
stage = snakemake.wildcards.stage
# the exact results of every chunk of this stage's batch, and nothing else: while the batch checkpoint is
# still pending Snakemake can hand this job a placeholder input, which must never be mistaken for results
stage_dir = Path(snakemake.output[0]).parent
expected = [str(stage_dir / "exact" / f"{c}.parquet") for c in chunk_names(stage_dir / "chunks")]
got = sorted(str(Path(f)) for f in snakemake.input)
if sorted(expected) != got:
    raise RuntimeError(f"gather {stage}: inputs {got} are not the exact results of the batch's chunks {expected}; "
                       "rerun snakemake (the batch checkpoint was still pending)")
missing = [f for f in expected if not Path(f).exists()]
if missing:
    raise RuntimeError(f"gather {stage}: exact results missing for {missing}; rerun snakemake")
gather_exact(expected, snakemake.output[0],
             round_index=None if stage == "baseline" else int(stage.split("_")[-1]))
