"""Exploration cost per quench, full quenches against quenches stopped early at a known IS, and the check
that both give the same record.

Two settings at N = 1500, one trajectory at T = 0.04 each, the paper's quench periods:
  tf0.092: a glass prepared here at Tf = 0.092 (short swap-MC equilibration), a quench every 0.05 (5 MD steps);
  tf0.062: the authors' inherent structure at Tf = 0.062 (tests' fixture), a quench every 0.2 (20 MD steps).
Each setting runs the same trajectory (same glass, seed, velocities) with the early stop off and on, in
alternation (--rounds times), so that both see the same machine load.  Times are CPU seconds of this process.
The record check compares, for every round, the IS sequence, the distinct IS (energies and positions, bit for
bit), the visit counts and the transition counts.

Prints `name: value unit` lines.
Usage: python benchmarks/explore.py [--quenches 1000] [--rounds 3] [--settings tf0.092,tf0.062]
"""

import argparse
import time
from pathlib import Path

import numpy as np

from tlspipe import model
from tlspipe.sample.defaults import EXPLORE_DEFAULTS
from tlspipe.sample.explore import merge_trajectories, run_trajectory

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ciarella2023_T0.062" / "2.044810139E-01.conf.txt"


def glass_092(n):
    from tlspipe.sample.prepare import prepare_glass

    g = prepare_glass(n, 0.092, seed=1, n_blocks=50)
    return g.positions, g.diameters, g.box


def glass_062():
    from tlspipe.store.lammps import read_lammps_data

    d = read_lammps_data(FIXTURE)
    return d.positions, d.diameters, d.box


def record(r, diam, box):
    st = merge_trajectories([r], diam, box, EXPLORE_DEFAULTS["energy_tol"], EXPLORE_DEFAULTS["position_tol"])
    return (r["sequence"], st.energy, st.positions, st.visits, st.trans_src, st.trans_dst, st.trans_count)


def same_record(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quenches", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settings", default="tf0.092,tf0.062")
    ap.add_argument("--n", type=int, default=1500, help="particles of the tf0.092 glass")
    a = ap.parse_args()
    settings = {"tf0.092": (glass_092, 0.05), "tf0.062": (glass_062, 0.2)}
    for name in a.settings.split(","):
        make, tau = settings[name]
        x0, diam, box = make(a.n) if make is glass_092 else make()
        n = len(diam)
        p = dict(EXPLORE_DEFAULTS, tau_quench=tau, traj_time=a.quenches * tau)
        run_trajectory(x0, diam, box, 0, 1, dict(p, traj_time=2 * tau))  # compile
        cpu = {False: [], True: []}
        recs = {False: [], True: []}
        out = {}
        for _ in range(a.rounds):
            for on in (False, True):
                t0 = time.process_time()
                r = run_trajectory(x0, diam, box, 0, 1, dict(p, early_exit=on))
                cpu[on].append(time.process_time() - t0)
                recs[on].append(record(r, diam, box))
                out[on] = r
        nq = len(out[True]["sequence"])
        n_is = len(out[True]["energies"])
        equal = all(same_record(recs[False][0], rec) for on in (False, True) for rec in recs[on])
        n_trans = int(recs[True][0][6].sum())
        print(f"{name}_particles: {n}")
        print(f"{name}_quenches: {nq} quenches (tau_quench {tau}, {int(round(tau / p['dt']))} MD steps apart)")
        print(f"{name}_distinct_is: {n_is} IS, {n_trans} transitions")
        for on, label in ((False, "full"), (True, "early_exit")):
            s = np.array(cpu[on]) / nq
            r = out[on]
            print(f"{name}_seconds_per_quench_{label}: {np.median(s):.4f} s "
                  f"(rounds: {' '.join(f'{v:.4f}' for v in s)})")
            print(f"{name}_distinct_is_per_cpu_minute_{label}: {n_is / (np.median(cpu[on]) / 60):.0f} IS/min")
            print(f"{name}_fire_steps_per_quench_{label}: {r['n_fire_steps'] / nq:.0f} steps "
                  f"(+ {r['n_refine_steps'] / nq:.0f} refining new IS)")
        print(f"{name}_early_exits: {out[True]['n_early_exit']} of {nq} quenches")
        ratios = np.array(cpu[False]) / np.array(cpu[True])
        print(f"{name}_speedup: {np.median(ratios):.2f} x (rounds: {' '.join(f'{v:.2f}' for v in ratios)})")
        print(f"{name}_record_equal: {equal} (IS sequence, distinct IS energies and positions, visits, transition "
              f"counts; {a.rounds} runs each way)")


if __name__ == "__main__":
    main()
