"""Is the straight path between two IS a cheap probe of what the exact path will say?

For every pair of finished studies' ``tls.parquet`` (pairs whose exact path was computed), the energy is
evaluated at ``--points`` equally spaced configurations on the straight line from IS a to IS b (minimum
image displacement; a few force-field calls per pair, ~1 ms, against ~1 s for the exact path). From that
profile, relative to IS a:

- ``lin_barrier``: the highest energy on the line above the higher of the two ends (an upper bound of the
  exact path's barrier seen from the higher IS);
- ``lin_minima``: interior local minima of the profile. A pair whose exact path has an intermediate minimum
  (status ``not_dw``, the commonest way a predicted double well fails) would show one here if the
  intermediate minimum lay near the straight line.

Printed (``name: value unit``):

- probe_pairs, probe_not_dw: pairs probed, and those the exact path found not to be double wells;
- probe_pairs_with_interior_minimum, probe_not_dw_with_interior_minimum;
- probe_auc_dw_from_lin_barrier: ROC AUC of -lin_barrier for is_dw (0.5 = no information);
- probe_spearman_barrier: Spearman correlation of lin_barrier with the exact barrier (double wells);
- probe_spearman_log_eqs_lin_barrier, probe_spearman_log_eqs_predicted: Spearman correlation with
  log E_qs of lin_barrier and of the models' predicted E_qs (double wells with a prediction);
- probe_spearman_residual_lin_barrier: of lin_barrier with log(E_qs / predicted E_qs), i.e. what the probe
  knows that the models did not;
- probe_seconds_per_pair.

Run: python benchmarks/straight_path_probe.py results/default [results/table1 ...] [--points 17]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from tlspipe.engine import ForceField
from tlspipe.store.isstore import read_store
from tlspipe.util.periodic import minimum_image


def straight_profile(ff: ForceField, xa, xb, box, points: int) -> np.ndarray:
    """Energies (relative to IS a) at ``points`` equally spaced places on the straight line a -> b."""
    dx = minimum_image(xb - xa, box)
    e = np.array([ff.energy(xa + s * dx) for s in np.linspace(0.0, 1.0, points)])
    return e - e[0]


def probe_study(results_dir: str, points: int) -> pd.DataFrame:
    tls = pd.read_parquet(f"{results_dir}/tls.parquet")
    rows = []
    for glass, tg in tls.groupby("glass"):
        store = read_store(f"{results_dir}/glasses/{glass}/is.h5")
        ff = ForceField(store.diameters, store.box)
        for r in tg.itertuples():
            e = straight_profile(ff, store.positions[r.is_a], store.positions[r.is_b], store.box, points)
            inner = e[1:-1]
            rows.append({"glass": glass, "is_a": r.is_a, "is_b": r.is_b, "status": r.status, "is_dw": bool(r.is_dw),
                         "e_qs": r.e_qs, "pred_e_qs": r.pred_e_qs, "barrier": r.barrier,
                         "lin_barrier": e.max() - max(0.0, e[-1]),
                         "lin_minima": int(np.sum((inner < e[:-2]) & (inner < e[2:])))})
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="finished study directories (results/<study>)")
    ap.add_argument("--points", type=int, default=17, help="energies per pair on the straight line")
    args = ap.parse_args()
    t0 = time.perf_counter()
    df = pd.concat([probe_study(d, args.points) for d in args.results], ignore_index=True)
    seconds = (time.perf_counter() - t0) / max(len(df), 1)
    not_dw = df["status"] == "not_dw"
    print(f"probe_pairs: {len(df)} pairs")
    print(f"probe_not_dw: {int(not_dw.sum())} pairs")
    print(f"probe_pairs_with_interior_minimum: {int((df.lin_minima > 0).sum())} pairs")
    print(f"probe_not_dw_with_interior_minimum: {int((df.lin_minima[not_dw] > 0).sum())} pairs")
    print(f"probe_auc_dw_from_lin_barrier: {roc_auc_score(df.is_dw, -df.lin_barrier):.3f} 1")
    dw = df[df.is_dw & np.isfinite(df.e_qs)]
    print(f"probe_spearman_barrier: {spearmanr(dw.lin_barrier, dw.barrier).statistic:.3f} 1")
    print(f"probe_spearman_log_eqs_lin_barrier: {spearmanr(np.log(dw.e_qs), dw.lin_barrier).statistic:.3f} 1")
    pred = dw[np.isfinite(dw.pred_e_qs) & (dw.pred_e_qs > 0)]
    print(f"probe_spearman_log_eqs_predicted: {spearmanr(np.log(pred.e_qs), pred.pred_e_qs).statistic:.3f} 1")
    resid = np.log(pred.e_qs / pred.pred_e_qs)
    print(f"probe_spearman_residual_lin_barrier: {spearmanr(resid, pred.lin_barrier).statistic:.3f} 1")
    print(f"probe_seconds_per_pair: {seconds:.4f} s")


if __name__ == "__main__":
    main()
