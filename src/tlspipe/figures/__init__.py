"""One function per figure and table of the paper, built from the workflow's tables only (never physics).

* :func:`fig3` predicted vs exact E_qs and barrier; :func:`fig4` the TLS search; :func:`fig5` SHAP
  summaries; :func:`fig6` distributions of pair properties for all pairs, DW and TLS;
* :func:`table1` iterative vs standard procedure; :func:`table2` time per step from benchmark files;
* :mod:`tlspipe.figures.standin` synthetic tables with the same layouts, for tests and previews;
* :func:`caption_path` the reStructuredText caption of a figure for Snakemake's ``report(caption=...)``.

Each figure function returns a :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot state) and writes
``out`` when given (a PNG also gets the PDF beside it).
"""

from pathlib import Path

from .fig3 import fig3
from .fig4 import fig4
from .fig5 import fig5
from .fig6 import fig6
from .tables import PAPER_TABLE1, table1, table2

CAPTIONS = Path(__file__).resolve().parent / "captions"


def caption_path(name: str) -> Path:
    """The caption file (reStructuredText) of figure/table ``name`` ('fig3' ... 'fig6', 'table1', 'table2')."""
    p = CAPTIONS / f"{name}.rst"
    if not p.is_file():
        have = sorted(q.stem for q in CAPTIONS.glob("*.rst"))
        raise ValueError(f"no caption for {name!r}; captions exist for {have}")
    return p


__all__ = ["PAPER_TABLE1", "caption_path", "fig3", "fig4", "fig5", "fig6", "table1", "table2"]
