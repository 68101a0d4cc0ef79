"""One function per figure and table of the paper, built from the workflow's tables only (never physics).

* :func:`fig3` predicted vs exact E_qs and barrier; :func:`fig4` the TLS search; :func:`fig5` SHAP
  summaries; :func:`fig6` distributions of pair properties for all pairs, DW and TLS;
* :func:`table1` iterative vs standard procedure; :func:`table2` time per step from benchmark files;
* :mod:`tlspipe.figures.standin` synthetic tables with the same layouts, for tests and previews;
* :func:`caption_path` the reStructuredText caption of a figure for Snakemake's ``report(caption=...)``.

Each figure function returns a :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot state) and writes
``out`` when given (a PNG also gets the PDF beside it).
"""

import importlib
from pathlib import Path

# imported on first use (PEP 562), so that `tlspipe --help` and the Snakefile do not load matplotlib/scipy
_LAZY = {"fig3": ".fig3", "fig4": ".fig4", "fig5": ".fig5", "fig6": ".fig6", "PAPER_TABLE1": ".tables",
         "table1": ".tables", "table2": ".tables"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CAPTIONS = Path(__file__).resolve().parent / "captions"


def caption_path(name: str) -> Path:
    """The caption file (reStructuredText) of figure/table ``name`` ('fig3' ... 'fig6', 'table1', 'table2')."""
    p = CAPTIONS / f"{name}.rst"
    if not p.is_file():
        have = sorted(q.stem for q in CAPTIONS.glob("*.rst"))
        raise ValueError(f"no caption for {name!r}; captions exist for {have}")
    return p


__all__ = ["PAPER_TABLE1", "caption_path", "fig3", "fig4", "fig5", "fig6", "table1", "table2"]
