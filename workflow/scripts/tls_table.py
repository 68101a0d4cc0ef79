from itertools import groupby
from pathlib import Path

from tlspipe.figures.results import build_tls_table
from tlspipe.workflow import setup_logging

setup_logging(snakemake.log[0])
i, p = snakemake.input, snakemake.params
# the prediction tables come round after round (loop/round_<k>/predictions/<glass>.parquet)
by_round = [list(fs) for _, fs in groupby(i.predictions, key=lambda f: Path(f).parent.parent)]
build_tls_table(i.loop, i.baseline, i.pairs, by_round, p.glass_tf, snakemake.output[0], p.tls_threshold)
