"""Labelled pairs from elsewhere (``loop.pretrain``): the training rows a study starts with.

The paper's loop starts from K0 pairs labelled by the standard procedure; a study given ``loop.pretrain``
starts from tables of pairs already computed exactly, so its very first batch (round 0) is chosen by models
trained on them, and every later round trains on them together with the study's own results.

Two layouts are read (Parquet or CSV), told apart by their columns:

- **tlspipe's** ``tls.parquet`` of an earlier study (or any table with the pair features and ``is_dw`` or
  ``status``; optional ``e_qs``, ``barrier``).  Failed calculations are left out.  Its E_qs is used only
  when it was computed in the study's units (the kelvin per epsilon of its ``e_qs_kelvin`` column tells).
- **the authors' layout** (Ciarella et al. 2023, e.g. ``data/pretraining/ciarella2023-*.parquet``):
  columns mapped by :data:`tlspipe.calibration.AUTHORS_COLUMNS`; a table with ``quantum_splitting`` and no
  ``is_dw`` holds double wells only.  Their E_qs is on the ``paper`` unit scale (README, "Agreement with
  the authors' calculations"): used for the E_qs model only when the study's units are ``paper``.  They
  give no barrier.  The same pair in two of their tables (same glass ``conf`` and IS energies ``i``, ``j``)
  is one row.

Labels are checked: ``is_dw`` must be 0 or 1 (a table with "yes"/"no" is refused), and the median E_qs of a
table must lie within :data:`E_QS_MEDIAN_RANGE` epsilon (a table in kelvin is refused, not read as epsilon).

Every pretraining row's glass is prefixed (``pretrain:<file stem>:<glass>``) so it never shares a
cross-validation group, or a name, with a glass of the study.  The authors' transition counts ``t_ab``,
``t_ba`` come from explorations far longer than a study's and are not comparable to its own: a study that
pretrains on them should leave them out of the features (``learn.exclude_features: [t_ab, t_ba]``, as the
default study does).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from .. import model

log = logging.getLogger("tlspipe")

#: the columns a pretraining table contributes, besides the features
LABELS = [C.IS_DW, C.E_QS, C.BARRIER]

_AUTHORS_MARKERS = ("Delta_E", "total_displacement", "displacement_0")


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"loop.pretrain: {path} does not exist; fix the path in the config (relative "
                                "paths are read from the directory Snakemake runs in) or remove the entry")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - any reader error is the file's
        raise ValueError(f"loop.pretrain: {path} is not a readable Parquet/CSV table ({e}); replace the file "
                         "or remove it from loop.pretrain") from e


def _kelvin_per_epsilon(units) -> float:
    return float(model.unit_preset(units).epsilon_kelvin)


def _is_paper_scale(units) -> bool:
    u, p = model.unit_preset(units), model.UNIT_PRESETS["paper"]
    return (u.sigma_angstrom, u.epsilon_kelvin, u.mass_amu) == (p.sigma_angstrom, p.epsilon_kelvin, p.mass_amu)


def _from_authors(df: pd.DataFrame, path: Path, units: str) -> pd.DataFrame:
    from ..calibration import AUTHORS_COLUMNS

    out = df.rename(columns=AUTHORS_COLUMNS)
    if "conf" not in out.columns or "i" not in out.columns or "j" not in out.columns:
        raise ValueError(f"loop.pretrain: {path} looks like the authors' layout but lacks 'conf', 'i' or 'j' "
                         "(the glass and the two IS energies that identify a pair)")
    if C.IS_DW not in out.columns:
        if C.E_QS not in out.columns:
            raise ValueError(f"loop.pretrain: {path} (authors' layout) has neither 'is_dw' nor "
                             "'quantum_splitting': no label to learn from")
        out[C.IS_DW] = 1.0  # their predictor tables hold double wells only
    if C.E_QS in out.columns and not _is_paper_scale(units):
        log.warning("loop.pretrain: %s: the authors' E_qs are on the 'paper' unit scale and the study uses "
                    "units %s: they are used for the double-well classifier only", path, units)
        out[C.E_QS] = np.nan
    out[C.GLASS] = "authors:" + out["conf"].astype("int64").astype(str)
    out["_key_i"], out["_key_j"] = out["i"].round(12), out["j"].round(12)
    return out


def _from_tlspipe(df: pd.DataFrame, path: Path, units: str) -> pd.DataFrame:
    out = df.copy()
    if C.IS_DW not in out.columns:
        if C.STATUS not in out.columns:
            raise ValueError(f"loop.pretrain: {path} has neither '{C.IS_DW}' nor '{C.STATUS}': no label to "
                             "learn from (expected an earlier study's tls.parquet or the authors' layout)")
    if C.STATUS in out.columns:
        out = out[out[C.STATUS].isin([C.STATUS_DW, C.STATUS_NOT_DW])]
        out[C.IS_DW] = (out[C.STATUS] == C.STATUS_DW).astype(float)
    if C.E_QS in out.columns and C.E_QS_K in out.columns:
        ok = (out[C.E_QS] > 0) & np.isfinite(out[C.E_QS_K])
        if ok.any():
            k = float(np.median(out.loc[ok, C.E_QS_K] / out.loc[ok, C.E_QS]))
            if not np.isclose(k, _kelvin_per_epsilon(units), rtol=1e-3):
                log.warning("loop.pretrain: %s was computed with %.4g K per epsilon, not the study's units '%s': "
                            "its E_qs and barriers are used for the double-well classifier only", path, k, units)
                out[C.E_QS] = np.nan
                out[C.BARRIER] = np.nan
    if C.GLASS not in out.columns:
        out[C.GLASS] = "0"
    out[C.GLASS] = out[C.GLASS].astype(str)
    return out


#: epsilon: the median E_qs of a table's double wells must lie in this range.  Splittings in epsilon have
#: medians of ~1e-2 (the authors' 0.0157); in kelvin the same are ~2-15 (x epsilon_kelvin of 120-934 K).
E_QS_MEDIAN_RANGE = (1e-6, 0.5)


def _check_labels(df: pd.DataFrame, path: Path, units: str) -> None:
    """Refuse labels that would be read wrongly: is_dw that is not 0/1 (e.g. "yes"/"no"), and an E_qs column
    whose scale is not epsilon (a table in kelvin: the authors' layout or ours without e_qs_kelvin)."""
    from ..util.checks import check_zero_one

    check_zero_one(df[C.IS_DW], f"loop.pretrain: {path}", C.IS_DW)
    e = pd.to_numeric(df[C.E_QS], errors="coerce").to_numpy(dtype=float)
    e = e[np.isfinite(e) & (e > 0)]
    if e.size:
        med = float(np.median(e))
        lo, hi = E_QS_MEDIAN_RANGE
        if not lo <= med <= hi:
            k = _kelvin_per_epsilon(units)
            raise ValueError(
                f"loop.pretrain: {path}: the median E_qs of its double wells is {med:.4g}, outside {lo:g}..{hi:g} "
                f"epsilon, the range of splittings in the study's units (the authors' median is 0.0157)"
                + (f"; it looks like kelvin (/{k:g} K per epsilon of units '{units}' gives {med / k:.3g})"
                   if lo <= med / k <= hi else "")
                + ": give E_qs in epsilon (tlspipe's tables: with the e_qs_kelvin column that tells their units), "
                "or drop the E_qs column to use the table for the double-well classifier only")


def read_pretraining(paths, units: str, features: list[str]) -> pd.DataFrame:
    """The labelled rows of every table in ``paths``: glass, the ``features``, is_dw, e_qs, barrier, source.

    Errors name the file and the fix (missing file, unreadable table, missing feature or label columns)."""
    frames = []
    for p in paths:
        path = Path(p)
        raw = _read_table(path)
        authors = any(m in raw.columns for m in _AUTHORS_MARKERS)
        df = _from_authors(raw, path, units) if authors else _from_tlspipe(raw, path, units)
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise ValueError(f"loop.pretrain: {path} lacks the feature column(s) {missing} the study's models use "
                             f"({features}); give a table with them (pairs.m sets how many dr_/dist_ columns)")
        for c in LABELS:
            if c not in df.columns:
                df[c] = np.nan
        _check_labels(df, path, units)
        df[C.GLASS] = "pretrain:" + df[C.GLASS] if authors else f"pretrain:{path.stem}:" + df[C.GLASS]
        keep = [C.GLASS, *features, *LABELS] + (["_key_i", "_key_j"] if authors else [])
        df = df[keep].copy()
        df["source"] = str(path)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[C.GLASS, *features, *LABELS, "source"])
    out = pd.concat(frames, ignore_index=True)
    if "_key_i" in out.columns:
        # one row per pair of the authors: prefer the row that carries E_qs
        keyed = out["_key_i"].notna()
        a = out[keyed].sort_values(C.E_QS, na_position="last", kind="stable")
        a = a.drop_duplicates([C.GLASS, "_key_i", "_key_j"], keep="first")
        out = pd.concat([a, out[~keyed]]).sort_index().drop(columns=["_key_i", "_key_j"])
    out = out[np.isfinite(out[C.IS_DW].astype(float))].reset_index(drop=True)
    out[C.IS_DW] = out[C.IS_DW].astype(int)
    log.info("pretraining: %d labelled pairs (%d double wells, %d with E_qs) from %d file(s)", len(out),
             int(out[C.IS_DW].sum()), int(out[C.E_QS].notna().sum()), len(frames))
    return out
