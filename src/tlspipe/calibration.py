"""Agreement with the authors' own exact calculations (Ciarella et al., Nat Commun 2023, public data).

The authors published, for glasses of this model prepared at Tf = 0.062 (N = 1500):

* 367 inherent structures of one glass (LAMMPS data files named by their energy per particle);
* the 5 pairs of that glass they computed exactly (all *not* double wells), keyed by the two energies;
* two labelled tables of pairs of many glasses: features + ``is_dw`` (their NEB verdict), and features +
  ``quantum_splitting`` (their E_qs in epsilon, on the scale where their TLS threshold is 0.0015 epsilon).

This module maps their columns onto ours (:data:`AUTHORS_COLUMNS`), picks a fixed calibration set of
localised pairs of one glass by a rule on features (:func:`select_calibration_pairs`), and compares the E_qs
of every double well we compute with the authors' E_qs of comparable pairs (:func:`authors_reference`).

Why a comparison by windows: the authors' tables hold pairs of *other* glasses (the one glass whose IS are
public has no double well among its 5 computed pairs), so a pair of ours is compared with the authors'
double wells of similar energy difference ΔE and total displacement d, the two features that set E_qs
(E_qs >= ΔE, and E_qs saturates at the lower well's hbar omega for ΔE >~ 0.05).  Both features are computed
exactly as the authors did (checked against their stored rows in ``tests/test_pairs.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import columns as C

#: The authors' column names -> tlspipe's.  ``quantum_splitting`` is their E_qs (epsilon).
AUTHORS_COLUMNS = {
    "displacement_0": "dr_1",
    "displacement_1": "dr_2",
    "displacement_2": "dr_3",
    "Delta_E": C.DELTA_E,
    "0to1": "dist_1_2",
    "0to2": "dist_1_3",
    "total_displacement": "d",
    "PR": "pr",
    "Tij": "t_ab",
    "Tji": "t_ba",
    "quantum_splitting": C.E_QS,
    "is_dw": "is_dw",
}

#: The calibration rule (on features only, never on results): one local rearrangement of moderate size.
CALIBRATION_RULE = dict(
    d_min=0.05,  # sigma: below this the two IS are one rearrangement apart only by numerical noise
    d_max=0.7,  # sigma: total displacement of a short, TLS-like pair
    delta_e_max=0.1,  # epsilon
    cluster=2.0,  # sigma: the 2nd and 3rd most displaced particles lie within this of the 1st (one event)
)

#: Window of comparable pairs: relative half-widths in ΔE and d, and the fewest authors' pairs accepted.
WINDOW = dict(delta_e=0.3, d=0.2, min_pairs=3)


def read_authors_table(path) -> pd.DataFrame:
    """One of the authors' labelled tables (Parquet or Feather), with columns renamed to tlspipe's.

    Their identifiers (``conf`` the glass, ``i``, ``j`` the energies per particle of the two IS) are kept
    under their own names; ``T`` (Tf) becomes ``tf``.
    """
    path = str(path)
    df = pd.read_feather(path) if path.endswith(".feather") else pd.read_parquet(path)
    missing = [c for c in ("Delta_E", "total_displacement") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {missing} missing; not one of the authors' pair tables "
                         f"(expected their names {sorted(AUTHORS_COLUMNS)})")
    out = df.rename(columns={**AUTHORS_COLUMNS, "T": "tf"})
    return out


def select_calibration_pairs(features: pd.DataFrame, n: int = 80, seed: int = 0,
                             rule: dict | None = None) -> pd.DataFrame:
    """A fixed set of ``n`` localised pairs of one glass, chosen by :data:`CALIBRATION_RULE` on features.

    The pairs that pass the rule are sampled uniformly (numpy Generator, ``seed``) and returned sorted by
    (is_a, is_b): the same features give the same set.  All pairs are returned when fewer pass.
    """
    r = dict(CALIBRATION_RULE, **(rule or {}))
    f = features
    keep = ((f["d"] > r["d_min"]) & (f["d"] < r["d_max"]) & (f[C.DELTA_E] < r["delta_e_max"])
            & (f["dist_1_2"] < r["cluster"]) & (f["dist_1_3"] < r["cluster"]))
    cand = f.loc[keep].sort_values([C.IS_A, C.IS_B]).reset_index(drop=True)
    if len(cand) > n:
        rng = np.random.default_rng(seed)
        cand = cand.iloc[np.sort(rng.choice(len(cand), size=n, replace=False))].reset_index(drop=True)
    return cand


def authors_reference(pairs: pd.DataFrame, authors: pd.DataFrame, window: dict | None = None) -> pd.Series:
    """Median of the authors' E_qs over their double wells comparable to each pair of ``pairs``.

    pairs: rows with feature columns ``delta_e`` and ``d``; authors: :func:`read_authors_table` of the
    predictor table (their double wells with E_qs).  Comparable: ΔE within ±window['delta_e'] (relative) and
    d within ±window['d'].  NaN where fewer than window['min_pairs'] authors' pairs fall in the window.
    """
    w = dict(WINDOW, **(window or {}))
    ade = authors[C.DELTA_E].to_numpy()
    ad = authors["d"].to_numpy()
    aq = authors[C.E_QS].to_numpy()
    ref = []
    for de, d in zip(pairs[C.DELTA_E].to_numpy(), pairs["d"].to_numpy()):
        m = ((ade >= (1 - w["delta_e"]) * de) & (ade <= (1 + w["delta_e"]) * de)
             & (ad >= (1 - w["d"]) * d) & (ad <= (1 + w["d"]) * d))
        ref.append(float(np.median(aq[m])) if m.sum() >= w["min_pairs"] else np.nan)
    return pd.Series(ref, index=pairs.index, name="e_qs_authors")


def eqs_ratios(exact: pd.DataFrame, features: pd.DataFrame, authors: pd.DataFrame,
               window: dict | None = None) -> pd.DataFrame:
    """Our E_qs / the authors' comparable E_qs for every double well of ``exact`` (exact-path results).

    Returns the double-well rows with columns is_a, is_b, e_qs, the features delta_e and d, e_qs_authors
    and ratio (NaN where no window could be formed).
    """
    dw = exact[exact[C.STATUS] == C.STATUS_DW][[C.IS_A, C.IS_B, C.E_QS]]
    feats = features[[C.IS_A, C.IS_B, C.DELTA_E, "d"]]
    m = dw.merge(feats, on=[C.IS_A, C.IS_B], how="left")
    m["e_qs_authors"] = authors_reference(m, authors, window).to_numpy()
    m["ratio"] = m[C.E_QS] / m["e_qs_authors"]
    return m


def ratio_summary(ratios) -> dict:
    """Median and interquartile range of the finite ratios, and how many there are."""
    r = np.asarray(ratios, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"n": 0, "median": np.nan, "q25": np.nan, "q75": np.nan}
    q25, med, q75 = np.percentile(r, [25, 50, 75])
    return {"n": int(r.size), "median": float(med), "q25": float(q25), "q75": float(q75)}
