"""Shared helpers of the figure functions: table loading and checks, Tf colours, labels, saving.

Figures are built on :class:`matplotlib.figure.Figure` objects with an Agg canvas attached, never through
``pyplot``: no global figure registry, no GUI backend, nothing to close, and the same code runs on a
cluster node, in a test and in a notebook (a Figure displays itself in Jupyter).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import columns as C

# Columns of the workflow's tables that columns.py does not (yet) name.  Taken from columns.py when it
# defines them, so that a rename there reaches the figures.
TF = getattr(C, "TF", "tf")  # preparation temperature of the glass (reduced units)
PRED_E_QS = getattr(C, "PRED_E_QS", "pred_e_qs")  # predicted quantum splitting, epsilon
PRED_BARRIER = getattr(C, "PRED_BARRIER", "pred_barrier")  # predicted classical barrier, epsilon
PRED_DW = getattr(C, "PRED_DW", "pred_dw")  # predicted DW probability
SHAP_VALUE_PREFIX = getattr(C, "SHAP_VALUE_PREFIX", "value_")  # SHAP tables: feature value columns

PROCEDURE_ITERATIVE, PROCEDURE_STANDARD, PROCEDURE_BOTH = "iterative", "standard", "both"
PROCEDURES = (PROCEDURE_ITERATIVE, PROCEDURE_STANDARD, PROCEDURE_BOTH)

#: paper's TLS threshold on E_qs, epsilon (Methods G)
TLS_THRESHOLD = 0.0015

_TABLE_READERS = {".parquet": pd.read_parquet, ".pq": pd.read_parquet, ".csv": pd.read_csv,
                  ".feather": pd.read_feather}

# axis-ready labels (mathtext + units); one place for every figure
FEATURE_LABELS = {
    C.DELTA_E: r"$\Delta E$ (ε)",
    C.D: r"$d$ (σ)",
    C.PR: r"PR (particles)",
    C.T_AB: r"$T_{\alpha\beta}$ (count)",
    C.T_BA: r"$T_{\beta\alpha}$ (count)",
    C.DELTA0: r"$\Delta_0$ (ε)",
    C.E_QS: r"$E_\mathrm{qs}$ (ε)",
    C.BARRIER: r"barrier (ε)",
}


def feature_label(name: str) -> str:
    """Axis label with unit for a feature column (dr_k, dist_1_k included); unknown names are returned as is."""
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    if name.startswith("dr_") and name[3:].isdigit():
        return rf"$\Delta r_{{{name[3:]}}}$ (σ)"
    if name.startswith("dist_1_") and name[7:].isdigit():
        return rf"$|r_1 - r_{{{name[7:]}}}|$ (σ)"
    return name


# --------------------------------------------------------------------------- tables
def read_table(obj, what: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a path (.parquet/.csv/.feather) or a list of paths (concatenated).

    ``what`` names the table in error messages; ``columns`` are the columns that must be present (for files,
    only these are read, which keeps large pair tables cheap).
    """
    if obj is None:
        raise ValueError(f"{what}: no table given")
    if isinstance(obj, pd.DataFrame):
        df = obj
        require_columns(df, columns or [], what)
        return df
    paths = [obj] if isinstance(obj, (str, Path)) else list(obj)
    frames = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"{what}: {p} does not exist; build it with the workflow first")
        reader = _TABLE_READERS.get(p.suffix.lower())
        if reader is None:
            raise ValueError(f"{what}: {p} has unknown format {p.suffix!r}; use .parquet, .csv or .feather")
        try:
            df = _read_one(p, reader, what, columns)
            if C.IS_DW in df.columns:  # "yes"/"no" would read as true both
                from ..util.checks import check_zero_one

                check_zero_one(df[C.IS_DW], f"{what}: {p}", C.IS_DW)
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            if str(p) in str(e):
                raise
            kind = "empty" if isinstance(e, pd.errors.EmptyDataError) else f"not a readable {p.suffix} table"
            raise ValueError(f"{what}: {p} is {kind} ({' '.join(str(e).split())[:200]}); rebuild it (rerun the "
                             "workflow rule or command that writes it) or pass another file") from e
        frames.append(df)
    if not frames:
        return pd.DataFrame({c: [] for c in (columns or [])})
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_one(p: Path, reader, what: str, columns) -> pd.DataFrame:
    if columns is not None and reader is pd.read_parquet:
        import pyarrow.parquet as pq

        have = set(pq.read_schema(p).names)
        missing = [c for c in columns if c not in have]
        if missing:
            raise ValueError(f"{what}: {p} lacks column(s) {missing}; it was not written by tlspipe "
                             f"or by an older version - rebuild it")
        return pd.read_parquet(p, columns=list(columns))
    df = reader(p)
    require_columns(df, columns or [], f"{what} ({p})")
    return df


def require_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; have {list(df.columns)}. "
                         "Pass the table the workflow writes (see tlspipe.figures docs) or add the columns")


def as_bool(s: pd.Series) -> np.ndarray:
    """A boolean array (a writable copy) from a bool/0-1/NaN column (NaN is False)."""
    return np.array(s.fillna(False).astype(bool).to_numpy(), dtype=bool)


def positive(*arrays) -> np.ndarray:
    """Rows where every array is finite and > 0 (what a log axis can show)."""
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        a = np.asarray(a, dtype=float)
        ok &= np.isfinite(a) & (a > 0)
    return ok


def tls_mask(tls: pd.DataFrame, threshold: float | None) -> np.ndarray:
    """TLS rows: the table's ``is_tls`` column (threshold None), or DW with E_qs < threshold (epsilon)."""
    if threshold is None:
        return as_bool(tls[C.IS_TLS])
    e = tls[C.E_QS].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return as_bool(tls[C.IS_DW]) & np.isfinite(e) & (e < float(threshold))


def glass_tf_map(glass_tf, *tables: pd.DataFrame) -> dict:
    """glass -> Tf: the explicit mapping (dict, Series or DataFrame with glass and tf), completed from
    any table that carries both glass and tf columns.  Conflicting Tf for one glass is an error."""
    out: dict = {}
    if glass_tf is not None:
        if isinstance(glass_tf, pd.DataFrame):
            require_columns(glass_tf, [C.GLASS, TF], "glass -> tf table")
            glass_tf = dict(zip(glass_tf[C.GLASS], glass_tf[TF]))
        elif isinstance(glass_tf, pd.Series):
            glass_tf = glass_tf.to_dict()
        out.update({str(k): float(v) for k, v in dict(glass_tf).items()})
    for t in tables:
        if t is None or C.GLASS not in t.columns or TF not in t.columns or t.empty:
            continue
        pairs = t[[C.GLASS, TF]].drop_duplicates()
        for g, tf in zip(pairs[C.GLASS].astype(str), pairs[TF].astype(float)):
            if g in out and not np.isclose(out[g], tf):
                raise ValueError(f"glass {g!r} has Tf {out[g]} and {tf} in different tables; "
                                 "fix the glass -> tf mapping")
            out.setdefault(g, tf)
    return out


def tf_values(*arrays) -> list[float]:
    vals = set()
    for a in arrays:
        a = np.asarray(a, dtype=float)
        vals.update(np.unique(a[np.isfinite(a)]).tolist())
    return sorted(vals)


def tf_colour(tf: float, all_tf: Sequence[float]):
    """One colour per Tf, by rank in the sorted Tf list on a sequential map (lowest Tf: dark blue,
    highest: orange), so the order of the temperatures reads from the colours."""
    from matplotlib import colormaps

    all_tf = sorted(all_tf)
    if len(all_tf) <= 1:
        return colormaps["plasma"](0.0)
    k = int(np.argmin(np.abs(np.asarray(all_tf) - tf)))
    return colormaps["plasma"](0.75 * k / (len(all_tf) - 1))


def tf_text(tf: float) -> str:
    return rf"$T_f$ = {tf:g}"


# --------------------------------------------------------------------------- units
def energy_scale(tls: pd.DataFrame, energy_unit: str) -> tuple[float, str]:
    """(factor, unit symbol) to convert epsilon to the requested unit.

    'epsilon': (1, 'ε').  'kelvin': epsilon/k_B read from the table as e_qs_kelvin / e_qs, which must be the
    same for every row (one unit preset per table).
    """
    if energy_unit in ("epsilon", "eps", "ε"):
        return 1.0, "ε"
    if energy_unit not in ("kelvin", "K"):
        raise ValueError(f"energy_unit must be 'epsilon' or 'kelvin', got {energy_unit!r}")
    require_columns(tls, [C.E_QS, C.E_QS_K], "tls table (energy_unit='kelvin')")
    e, k = tls[C.E_QS].to_numpy(dtype=float), tls[C.E_QS_K].to_numpy(dtype=float)
    ok = positive(e, k)
    if not ok.any():
        raise ValueError("tls table: no row with both e_qs and e_qs_kelvin > 0, so the kelvin scale is "
                         "unknown; use energy_unit='epsilon'")
    ratio = k[ok] / e[ok]
    f = float(np.median(ratio))
    if np.max(np.abs(ratio / f - 1.0)) > 1e-6:
        raise ValueError("tls table: e_qs_kelvin / e_qs differs between rows (mixed unit presets?); "
                         "make one table per unit preset")
    return f, "K"


# --------------------------------------------------------------------------- drawing
def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def note(ax, text: str) -> None:
    """An empty panel's note, centred in axes coordinates (the axes keeps its labels)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.35",
            gid="tlspipe-note")


def panel_letter(ax, letter: str) -> None:
    ax.text(-0.02, 1.02, letter, transform=ax.transAxes, ha="right", va="bottom", fontweight="bold")


def save(fig: Figure, out) -> list[Path]:
    """Write ``out``; when it ends with .png also the PDF beside it (same stem).  Returns the paths written."""
    if out is None:
        return []
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out]
    fig.savefig(out, dpi=200)
    if out.suffix.lower() == ".png":
        pdf = out.with_suffix(".pdf")
        fig.savefig(pdf)
        written.append(pdf)
    return written


def log_limits(*arrays, pad: float = 1.5) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.array([])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size == 0:
        return 1e-4, 1.0
    lo, hi = float(vals.min()) / pad, float(vals.max()) * pad
    return lo, hi
