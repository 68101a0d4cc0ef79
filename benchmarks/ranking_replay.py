"""Would another ranking of round 0 have found more TLS?  A replay on a finished study.

Round 0 of a pretrained study is chosen from the pretrained models' predictions
(``loop/pretrained/predictions.parquet``, one row per candidate).  This script re-chooses it under two
rankings and counts, among the chosen pairs, those whose exact result the study has (from any round or the
standard procedure, ``tls.parquet``), their double wells and their TLS:

- ``e_qs`` (the loop's ranking): the K lowest predicted E_qs among pairs with predicted DW probability
  >= 0.5;
- ``p_tls`` (an expected-improvement ranking): the K highest P(TLS) = P(DW) x P(E_qs < threshold), the
  second factor from a log-normal error of the predicted E_qs with standard deviation ``sigma`` (natural
  log).  ``sigma`` defaults to the one measured on the study itself: the spread of ln(E_qs / predicted)
  over its computed double wells.

A replay only sees pairs that some round computed: ``labelled`` says how many of the chosen K those are;
the counts of the ranking that chooses unlabelled pairs are a lower bound.

Printed (``name: value unit``): replay_sigma, and for each ranking replay_<rank>_labelled, _dw, _tls, plus
replay_overlap (pairs both rankings choose).

Run: python benchmarks/ranking_replay.py results/default [--k 50] [--sigma 0.6] [--threshold 0.0015]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import norm

KEY = ["glass", "is_a", "is_b"]


def rank_e_qs(pred: pd.DataFrame, k: int, dw_threshold: float = 0.5) -> pd.DataFrame:
    return pred[pred.pred_dw >= dw_threshold].sort_values(["pred_e_qs", *KEY], kind="stable").head(k)


def rank_p_tls(pred: pd.DataFrame, k: int, threshold: float, sigma: float) -> pd.DataFrame:
    p_tls = pred.pred_dw * norm.cdf((np.log(threshold) - np.log(pred.pred_e_qs)) / sigma)
    return pred.assign(p_tls=p_tls).sort_values(["p_tls", *KEY], ascending=[False, True, True, True],
                                               kind="stable").head(k)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="a finished pretrained study (results/<study>)")
    ap.add_argument("--k", type=int, default=50, help="pairs of round 0 (the study's loop.k0)")
    ap.add_argument("--sigma", type=float, default=None, help="ln-error of the predicted E_qs (default: measured)")
    ap.add_argument("--threshold", type=float, default=0.0015, help="TLS threshold on E_qs (epsilon)")
    args = ap.parse_args()
    tls = pd.read_parquet(f"{args.results}/tls.parquet")
    pred = pd.read_parquet(f"{args.results}/loop/pretrained/predictions.parquet", columns=[*KEY, "pred_dw", "pred_e_qs"])
    labelled = tls[KEY + ["is_dw", "is_tls", "e_qs"]].drop_duplicates(KEY)
    sigma = args.sigma
    if sigma is None:
        dw = pred.merge(labelled[labelled.is_dw & (labelled.e_qs > 0)], on=KEY)
        sigma = float(np.std(np.log(dw.e_qs / dw.pred_e_qs), ddof=1))
    print(f"replay_sigma: {sigma:.3f} 1")
    chosen = {"e_qs": rank_e_qs(pred, args.k), "p_tls": rank_p_tls(pred, args.k, args.threshold, sigma)}
    for name, sel in chosen.items():
        j = sel[KEY].merge(labelled, on=KEY, how="left")
        print(f"replay_{name}_labelled: {int(j.is_tls.notna().sum())} pairs")
        print(f"replay_{name}_dw: {int(j.is_dw.fillna(False).astype(bool).sum())} pairs")
        print(f"replay_{name}_tls: {int(j.is_tls.fillna(False).astype(bool).sum())} pairs")
    print(f"replay_overlap: {len(chosen['e_qs'][KEY].merge(chosen['p_tls'][KEY], on=KEY))} pairs")


if __name__ == "__main__":
    main()
