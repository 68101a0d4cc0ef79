"""Stand-in tables with the workflow's layouts, for tests and for previewing the figures.

The numbers are synthetic but shaped like a real study (reduced units: energies in epsilon, lengths in
sigma): ΔE log-normal around 1e-2..3e-2 ε (lower at higher Tf), DW more likely for small d, E_qs from the
two-level relation E_qs = sqrt(ΔE² + Δ0²) capped by a vibrational scale (so E_qs is log-normal around
1e-2 ε), predictions = exact values times a log-normal error, an iterative search that picks the lowest
predicted E_qs each round and a standard procedure that computes every pair with min(T_ab, T_ba) >= 4.
Nothing here is physics; never mix these tables with results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import columns as C
from .. import model
from .common import (PRED_BARRIER, PRED_DW, PRED_E_QS, PROCEDURE_BOTH, PROCEDURE_ITERATIVE,
                     PROCEDURE_STANDARD, SHAP_VALUE_PREFIX, TF, TLS_THRESHOLD, glass_tf_map)

#: epsilon / k_B of the default ('paper') unit preset, K (used for e_qs_kelvin)
EPS_K = model.unit_preset("paper").epsilon_kelvin
DR, DIST = C.dr_columns(3), C.dist_columns(3)
DR1 = DR[0]
STANDIN_GLASSES = {0.062: 3, 0.07: 3, 0.092: 2}
N_ROUNDS = 5  # round 0 = random pretraining batch, rounds 1..4 = lowest predicted E_qs


def make_tables(seed: int = 0, pairs_per_glass: int = 250, glasses: dict | None = None,
                n_rounds: int = N_ROUNDS, batch: int = 20) -> dict[str, pd.DataFrame]:
    """Stand-in tables.  Keys:

    * ``tls``: every exactly computed pair (IDS + EXACT + feature_columns(3) + round, procedure, tf, is_dw,
      is_tls, pred_e_qs, pred_barrier, pred_dw), as ``results/{study}/tls.parquet``;
    * ``pairs``: all pairs of all glasses (IDS + feature_columns(3)), the concatenated
      ``results/{study}/pairs/{glass}.parquet``;
    * ``glasses``: glass, tf;
    * ``predictions_round_{i}``: IDS + tf + pred_dw + pred_e_qs of round i for all pairs;
    * ``shap_qs``, ``shap_dw``: IDS + one SHAP column per feature + ``value_<feature>`` columns.

    glasses: {Tf: number of glasses} (default 3, 3, 2 glasses at Tf = 0.062, 0.07, 0.092).
    batch: exact calculations per Tf in each iterative round 1..n_rounds-1; round 0 is a random 10% of the
    pairs of each Tf.
    """
    rng = np.random.default_rng(seed)
    glasses = dict(STANDIN_GLASSES if glasses is None else glasses)
    rows, gl = [], []
    for tf, count in sorted(glasses.items()):
        for i in range(int(count)):
            name = f"tf{tf:.3f}_g{i:02d}"
            gl.append({C.GLASS: name, TF: float(tf)})
            rows.append(_pairs_of_glass(rng, name, tf, pairs_per_glass))
    pairs = pd.concat(rows, ignore_index=True)
    glass_df = pd.DataFrame(gl)
    tf_of = glass_tf_map(glass_df)
    tf_col = pairs[C.GLASS].map(tf_of).to_numpy(dtype=float)

    # hidden truth and predictions for every pair
    n = len(pairs)
    de = pairs[C.DELTA_E].to_numpy()
    d = pairs[C.D].to_numpy()
    logit = 2.0 - 9.0 * (d - 0.45) - 0.8 * (np.log10(de) + 1.5) + 0.4 * (pairs[C.T_AB].to_numpy() > 0)
    p_dw = 1.0 / (1.0 + np.exp(-logit))
    dw = rng.random(n) < p_dw
    delta0 = 10.0 ** rng.uniform(-9.0, -1.4, n)
    hw = 10.0 ** rng.normal(-1.4, 0.15, n)  # vibrational saturation scale
    e_qs = np.minimum(np.sqrt(de**2 + delta0**2), hw)
    barrier = 10.0 ** rng.normal(-1.3, 0.35, n) + 0.5 * de
    pred_dw = np.clip(p_dw + rng.normal(0.0, 0.08, n), 0.0, 1.0)
    pred_e_qs = e_qs * 10.0 ** rng.normal(0.0, 0.25, n)
    pred_e_qs[~dw] = 10.0 ** rng.normal(-1.0, 0.6, (~dw).sum())
    pred_barrier = barrier * 10.0 ** rng.normal(0.0, 0.12, n)

    # iterative search: round 0 random, rounds >= 1 the lowest predicted E_qs among predicted DW
    rnd = np.full(n, -1, dtype=np.int64)
    preds = {}
    score = np.where(pred_dw > 0.5, pred_e_qs, np.inf)
    for r in range(n_rounds):
        for tf in np.unique(tf_col):
            free = np.flatnonzero((tf_col == tf) & (rnd < 0))
            if r == 0:
                pick = rng.choice(free, size=max(1, len(free) // 10), replace=False)
            else:
                pick = free[np.argsort(score[free], kind="stable")[:batch]]
            rnd[pick] = r
        noise = 10.0 ** rng.normal(0.0, 0.05 * (n_rounds - r), n)
        preds[f"predictions_round_{r}"] = pd.DataFrame({
            C.GLASS: pairs[C.GLASS], C.IS_A: pairs[C.IS_A], C.IS_B: pairs[C.IS_B], TF: tf_col,
            PRED_DW: pred_dw, PRED_E_QS: pred_e_qs * noise})
    standard = np.minimum(pairs[C.T_AB].to_numpy(), pairs[C.T_BA].to_numpy()) >= 4
    iterative = rnd >= 0
    done = iterative | standard
    procedure = np.where(iterative & standard, PROCEDURE_BOTH,
                         np.where(iterative, PROCEDURE_ITERATIVE, PROCEDURE_STANDARD))

    failed = rng.random(n) < 0.02
    status = np.where(failed, "failed: band did not converge", np.where(dw, C.STATUS_DW, C.STATUS_NOT_DW))
    is_dw = status == C.STATUS_DW
    nan = np.full(n, np.nan)
    tls = pairs.copy()
    tls[C.STATUS] = status
    tls[C.E_QS] = np.where(is_dw, e_qs, nan)
    tls[C.E_QS_K] = tls[C.E_QS] * EPS_K
    tls[C.BARRIER] = np.where(is_dw, barrier, nan)
    tls[C.DELTA0] = np.where(is_dw, delta0, nan)
    tls[C.PATH_LENGTH] = tls[C.D] * 10.0 ** rng.uniform(0.0, 0.3, n)  # the band is longer than the chord d
    tls[C.N_ITER] = rng.integers(200, 3000, n)
    tls[C.SECONDS] = 10.0 ** rng.normal(1.5, 0.3, n)
    tls[C.ROUND] = rnd
    tls[C.PROCEDURE] = procedure
    tls[TF] = tf_col
    tls[C.IS_DW] = is_dw
    tls[C.IS_TLS] = is_dw & (e_qs < TLS_THRESHOLD)
    tls[PRED_E_QS] = pred_e_qs
    tls[PRED_BARRIER] = np.where(pred_dw > 0.5, pred_barrier, nan)
    tls[PRED_DW] = pred_dw
    tls = tls[done].reset_index(drop=True)
    order = C.IDS + [c for c in C.EXACT if c != C.DELTA_E] + C.feature_columns(3) + [
        C.ROUND, C.PROCEDURE, TF, C.IS_DW, C.IS_TLS, PRED_E_QS, PRED_BARRIER, PRED_DW]
    tls = tls[order]

    out = {"tls": tls, "pairs": pairs, "glasses": glass_df}
    out.update(preds)
    lowest = tls[(tls[TF] == tls[TF].min())]
    out["shap_qs"] = _shap_table(rng, lowest[lowest[C.IS_DW]], {C.DELTA_E: 0.6, DR1: -0.35, C.D: 0.25})
    out["shap_dw"] = _shap_table(rng, lowest, {C.T_AB: 0.12, C.T_BA: 0.1, C.D: -0.08, C.DELTA_E: -0.05})
    return out


def _pairs_of_glass(rng, name, tf, n_pairs) -> pd.DataFrame:
    n_is = int(np.ceil((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    a, b = np.triu_indices(n_is, k=1)
    take = np.sort(rng.choice(len(a), size=min(n_pairs, len(a)), replace=False))
    a, b = a[take], b[take]
    n = len(a)
    mu = {0.062: -1.4, 0.07: -1.6, 0.092: -1.8}.get(round(float(tf), 3), -1.6)
    de = np.clip(10.0 ** rng.normal(mu, 0.8, n), 1e-7, 1.0)
    dr1 = np.clip(10.0 ** rng.normal(-0.45, 0.22, n), 0.05, 1.5)
    dr2 = dr1 * rng.uniform(0.3, 0.95, n)
    dr3 = dr2 * rng.uniform(0.3, 0.95, n)
    rest = 10.0 ** rng.normal(-0.9, 0.4, n)
    d = np.sqrt(dr1**2 + dr2**2 + dr3**2 + rest**2)
    pr = d**4 / (dr1**4 + dr2**4 + dr3**4 + rest**4 / 30.0)
    df = pd.DataFrame({
        C.GLASS: name, C.IS_A: a.astype(np.int64), C.IS_B: b.astype(np.int64),
        C.DELTA_E: de, DR[0]: dr1, DR[1]: dr2, DR[2]: dr3, C.D: d, C.PR: pr,
        DIST[0]: rng.uniform(0.7, 3.0, n), DIST[1]: rng.uniform(0.7, 3.0, n),
        C.T_AB: rng.negative_binomial(0.3, 0.08, n).astype(np.int64),
        C.T_BA: rng.negative_binomial(0.3, 0.08, n).astype(np.int64),
    })
    return df[C.IDS + C.feature_columns(3)]


def _shap_table(rng, rows: pd.DataFrame, weights: dict) -> pd.DataFrame:
    feats = C.feature_columns(3)
    out = {c: rows[c].to_numpy() for c in C.IDS}
    x = rows[feats].to_numpy(dtype=float)
    for j, f in enumerate(feats):
        v = np.log10(np.maximum(x[:, j], 1e-12)) if f in (C.DELTA_E,) else x[:, j]
        z = (v - v.mean()) / (v.std() + 1e-12) if len(v) else v
        out[f] = weights.get(f, 0.02) * z + rng.normal(0.0, 0.01, len(v))
    for j, f in enumerate(feats):
        out[SHAP_VALUE_PREFIX + f] = x[:, j]
    return pd.DataFrame(out)


def write_tables(root, seed: int = 0, **kwargs) -> dict[str, Path]:
    """Write the stand-in tables in the workflow's layout under ``root`` (a stand-in ``results/{study}``).

    Writes tls.parquet, pairs/{glass}.parquet, glasses.csv, loop/round_{i}/predictions/{glass}.parquet,
    loop/round_{last}/shap_qs.parquet and shap_dw.parquet, and Snakemake-style benchmark TSVs under
    benchmarks/{rule}/.  Returns the main paths.
    """
    root = Path(root)
    t = make_tables(seed, **kwargs)
    (root / "pairs").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"tls": root / "tls.parquet", "glasses": root / "glasses.csv"}
    t["tls"].to_parquet(paths["tls"], index=False)
    t["glasses"].to_csv(paths["glasses"], index=False)
    for g, sub in t["pairs"].groupby(C.GLASS, sort=True):
        sub.to_parquet(root / "pairs" / f"{g}.parquet", index=False)
    rounds = sorted(int(k.rsplit("_", 1)[1]) for k in t if k.startswith("predictions_round_"))
    for r in rounds:
        d = root / "loop" / f"round_{r}" / "predictions"
        d.mkdir(parents=True, exist_ok=True)
        for g, sub in t[f"predictions_round_{r}"].groupby(C.GLASS, sort=True):
            sub.to_parquet(d / f"{g}.parquet", index=False)
    last = root / "loop" / f"round_{rounds[-1]}"
    paths["shap_qs"], paths["shap_dw"] = last / "shap_qs.parquet", last / "shap_dw.parquet"
    t["shap_qs"].to_parquet(paths["shap_qs"], index=False)
    t["shap_dw"].to_parquet(paths["shap_dw"], index=False)
    paths["pairs"] = root / "pairs"
    paths["benchmarks"] = root / "benchmarks"
    rng = np.random.default_rng(seed + 1)
    glasses = list(t["glasses"][C.GLASS])
    jobs = {"prepare": glasses, "explore": glasses, "pairs": glasses,
            "neb": [f"round_{r}" for r in rounds], "learn": [f"round_{r}" for r in rounds],
            "predict": [f"round_{r}" for r in rounds]}
    scale = {"prepare": 300.0, "explore": 900.0, "pairs": 2.0, "neb": 2000.0, "learn": 600.0, "predict": 0.5}
    for rule, names in jobs.items():
        d = paths["benchmarks"] / rule
        d.mkdir(parents=True, exist_ok=True)
        for name in names:
            write_benchmark_tsv(d / f"{name}.tsv", scale[rule] * 10.0 ** rng.normal(0, 0.1), rng)
    return paths


def write_benchmark_tsv(path, seconds: float, rng=None, repeats: int = 1) -> None:
    """A file in Snakemake's ``benchmark:`` format (tab separated, one line per repeat)."""
    rng = rng or np.random.default_rng(0)
    cols = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load",
            "cpu_time"]
    lines = ["\t".join(cols)]
    for _ in range(repeats):
        s = float(seconds)
        h, rem = divmod(int(s), 3600)
        m, sec = divmod(rem, 60)
        rss = float(rng.uniform(100, 900))
        vals = [f"{s:.4f}", f"{h}:{m:02d}:{sec:02d}", f"{rss:.2f}", f"{rss * 1.5:.2f}", f"{rss * 0.9:.2f}",
                f"{rss * 0.95:.2f}", "0.10", "1.20", "95.00", f"{0.95 * s:.2f}"]
        lines.append("\t".join(vals))
    Path(path).write_text("\n".join(lines) + "\n")
