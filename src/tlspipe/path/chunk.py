"""One NEB job of the workflow: the exact results of one chunk of a batch (the ``neb`` rule,
``results/{study}/{stage}/exact/{glass}.{c}.parquet``), resumable through a side file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from .. import columns as C
from ..util.io import write_parquet as _write_parquet

log = logging.getLogger("tlspipe.path")


def run_chunk(options: dict, store, chunk_file, out_file, partial_file=None) -> pd.DataFrame:
    """Exact results of one chunk (options: the study's ``neb`` section with ``units`` and ``tls_threshold``,
    the flat options of :class:`~tlspipe.path.options.PathOptions`).  Finished pairs are appended
    to ``partial_file`` as they complete (it is not a Snakemake output, so it survives a killed job) and the
    output is written when all are done.  The profiles V(xi) go to ``<out>.profiles.h5`` beside the output."""
    from ..path import run_pairs

    pairs = pd.read_parquet(chunk_file)
    partial = Path(partial_file) if partial_file else Path(str(out_file) + ".partial.parquet")
    t0 = time.perf_counter()
    profiles = Path(out_file).with_suffix(".profiles.h5")  # V(xi) of every pair, for figures
    from ..path.model_neb import run_model_chunk, store_is_other_model

    if store_is_other_model(store):  # the NEB of another model: tlspipe.path.model_neb (no resume, no profiles)
        res = run_model_chunk(options, store, pairs[[C.IS_A, C.IS_B]])
    else:
        res = run_pairs(store, pairs[[C.IS_A, C.IS_B]], partial, options, profiles_path=profiles)
    res = res.copy()
    res[C.GLASS] = pairs[C.GLASS].iloc[0] if len(pairs) else ""
    res = res[C.IDS + [c for c in res.columns if c not in C.IDS]]
    _write_parquet(res, out_file)
    partial.unlink(missing_ok=True)
    log.info("chunk %s: %d pairs in %.1f s (%s)", Path(chunk_file).name, len(res), time.perf_counter() - t0,
             res[C.STATUS].value_counts().to_dict() if len(res) else {})
    return res
