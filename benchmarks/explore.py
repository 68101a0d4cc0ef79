"""Exploration cost per quench, one quench at a time against quenches in SIMD lanes, and the checks that
both do the same physics.

Two settings at N = 1500, one core, T = 0.04, the paper's quench periods:
  tf0.092: a glass prepared here at Tf = 0.092 (short swap-MC equilibration), a quench every 0.05 (5 MD steps);
  tf0.062: the authors' inherent structure at Tf = 0.062 (tests' fixture), a quench every 0.2 (20 MD steps).

Per setting:
  1. cost: the same trajectory (same glass, seed, velocities) run by today's path (``lanes=0``: one FIRE
     quench at a time) and by the lanes path (``lanes``, default 8), both with the early stop at a known IS,
     alternated --rounds times so that both see the same machine load.  CPU seconds of this process.
  2. quench agreement: the MD snapshots of that trajectory (--agreement of them) quenched fully (no early stop)
     one by one with ``fire_minimise`` and in lanes with ``LaneFIRE``; the same IS when the energies per particle
     agree within energy_tol and every particle within position_tol.  Each disagreement is examined: the
     snapshot is quenched one by one again after displacing it by 1e-12 sigma (4 random displacements); when
     those do not all end where the unperturbed single quench ended, rounding decides the snapshot's basin
     (a basin boundary), and the disagreement is counted as explained.
  3. MD energy conservation: 8 trajectories of the glass run by single-configuration MD and in lanes
     (``LaneMD``) for --md-steps NVE steps; drift per particle per time unit (slope of a line through the
     total energy) and the largest |E(t) - E(0)| per particle, both paths.
  4. the records of the alternated explorations side by side: distinct IS, transitions, and the IS energies
     (two-sample Kolmogorov-Smirnov p-value).  Trajectories are chaotic and the two paths round differently, so
     the records are compared statistically, not bit for bit.

Variants (--variants, alternated with the two paths above in the same rounds, one line each,
``{setting}_seconds_per_quench_{variant}``, ``..._distinct_is_per_cpu_minute_{variant}``, ``{setting}_{variant}_speedup``
against the single path and ``{setting}_{variant}_vs_lanes`` against today's lanes):
  lanes_mixed: ``lane_precision: mixed`` (the bulk of each descent in float32 lanes, its end in float64; its quench
               agreement is measured on the same snapshots, ``{setting}_quench_agreement_lanes_mixed``);
  lanes8, lanes16, lanes32, lanes64: ``lanes: 8``, ``16``, ``32``, ``64`` (descents in flight: fewer lose fewer early stops and keep
               the lanes' arrays in the core's cache; more fill the vectors better).

Prints `name: value unit` lines.
Usage: python benchmarks/explore.py [--quenches 1000] [--rounds 2] [--agreement 1000] [--lanes 8]
                                    [--settings tf0.092,tf0.062] [--variants lanes_mixed,lanes32]
"""

import argparse
import time
from pathlib import Path

import numpy as np

from tlspipe import engine
from tlspipe.sample.defaults import EXPLORE_DEFAULTS
from tlspipe.sample.explore import merge_trajectories, min_image_max_disp, run_trajectory

_CONF = Path("fixtures") / "ciarella2023_T0.062" / "2.044810139E-01.conf.txt"
# the shared data beside the checkout (or beside the directory of worktrees)
FIXTURE = next((p / "shared" / _CONF for p in Path(__file__).resolve().parents[2:4] if (p / "shared" / _CONF).exists()),
               Path(__file__).resolve().parents[2] / "shared" / _CONF)


def glass_092(n):
    from tlspipe.sample.prepare import prepare_glass

    g = prepare_glass(n, 0.092, seed=1, n_blocks=50)
    return g.positions, g.diameters, g.box


def glass_062():
    from tlspipe.store.lammps import read_lammps_data

    d = read_lammps_data(FIXTURE)
    return d.positions, d.diameters, d.box


def same_is(xa, ea, xb, eb, n, box):
    return (abs(ea - eb) / n <= EXPLORE_DEFAULTS["energy_tol"]
            and min_image_max_disp(xa, xb, box) <= EXPLORE_DEFAULTS["position_tol"])


def snapshots(x0, diam, box, n_snap, every, seed=1):
    """The MD snapshots of trajectory 0 of the exploration (the same velocities and MD as run_trajectory)."""
    n = len(diam)
    v = engine.maxwell_velocities(n, EXPLORE_DEFAULTS["T"], np.random.default_rng([seed, 0]))
    sim = engine.MD(x0, v, diam, box)
    out = []
    for _ in range(n_snap):
        sim.run(every, dt=EXPLORE_DEFAULTS["dt"])
        out.append(sim.x.copy())
    return out


def agreement(name, x0, diam, box, every, n_snap, lanes, mixed=False):
    from tlspipe.engine.lanes import LaneFIRE, MixedLaneFIRE

    n = len(diam)
    ftol = EXPLORE_DEFAULTS["ftol"]
    snaps = snapshots(x0, diam, box, n_snap, every)
    t0 = time.process_time()
    single = [engine.fire_minimise(x, diam, box, ftol=ftol) for x in snaps]
    t_single = time.process_time() - t0
    t0 = time.process_time()
    lane = LaneFIRE(diam, box, width=lanes, ftol=ftol).run(snaps)
    t_lanes = time.process_time() - t0
    agree, unexplained = _agreement_report(name, "", x0, diam, box, snaps, single, lane, n_snap)
    print(f"{name}_full_quench_seconds_single: {t_single / n_snap:.4f} s (no early stop)")
    print(f"{name}_full_quench_seconds_lanes: {t_lanes / n_snap:.4f} s (no early stop, {lanes} lanes)")
    if mixed:
        t0 = time.process_time()
        lane = MixedLaneFIRE(diam, box, width=lanes, ftol=ftol,
                             switch_force=EXPLORE_DEFAULTS["lane_switch_force"]).run(snaps)
        t_mixed = time.process_time() - t0
        am, um = _agreement_report(name, "_lanes_mixed", x0, diam, box, snaps, single, lane, n_snap)
        print(f"{name}_full_quench_seconds_lanes_mixed: {t_mixed / n_snap:.4f} s (no early stop, {lanes} lanes, "
              f"float32 until max|F| < {EXPLORE_DEFAULTS['lane_switch_force']:g})")
        return agree, unexplained, am, um
    return agree, unexplained, None, None


def _agreement_report(name, suffix, x0, diam, box, snaps, single, lane, n_snap):
    n = len(diam)
    ftol = EXPLORE_DEFAULTS["ftol"]
    agree, same_steps, explained, unconverged = 0, 0, 0, 0
    rng = np.random.default_rng(0)
    lines = []
    for k, ((xs, rs), (xl, el, fml, stl, _)) in enumerate(zip(single, lane)):
        if not (rs.converged and fml < ftol):
            unconverged += 1
        same_steps += rs.n_steps == stl
        if same_is(xs, rs.energy, xl, el, n, box):
            agree += 1
            continue
        ends = []
        for _ in range(4):
            xp, rp = engine.fire_minimise(snaps[k] + rng.normal(0.0, 1e-12, snaps[k].shape), diam, box, ftol=ftol)
            ends.append("single" if same_is(xp, rp.energy, xs, rs.energy, n, box) else
                        "lanes" if same_is(xp, rp.energy, xl, el, n, box) else "other")
        boundary = any(e != "single" for e in ends)
        explained += boundary
        lines.append(f"{name}_disagreement{suffix}: snapshot {k}: single E/N {rs.energy / n:.10f} ({rs.n_steps} steps), lanes "
                     f"{el / n:.10f} ({stl} steps), largest displacement {min_image_max_disp(xs, xl, box):.3g}; "
                     f"perturbed by 1e-12 single quenches end at {ends}: "
                     f"{'a basin boundary (rounding decides)' if boundary else 'NOT explained'}")
    print(f"{name}_quench_agreement{suffix}: {agree / n_snap:.4f} ({agree} of {n_snap} snapshots reach the same IS; "
          f"{n_snap - agree - explained} disagreements unexplained)")
    for s in lines:
        print(s)
    print(f"{name}_quench_same_step_count{suffix}: {same_steps} of {n_snap}")
    print(f"{name}_quench_unconverged{suffix}: {unconverged} of {n_snap}")
    return agree, n_snap - agree - explained


def md_drift(name, x0, diam, box, n_steps, n_lanes=8):
    from tlspipe.engine.lanes import LaneMD

    n = len(diam)
    dt = EXPLORE_DEFAULTS["dt"]
    V = [engine.maxwell_velocities(n, EXPLORE_DEFAULTS["T"], np.random.default_rng([1, t])) for t in range(n_lanes)]
    every = 20
    tt = np.arange(n_steps // every + 1) * every * dt
    res = {}
    # single
    E = np.empty((n_lanes, len(tt)))
    t0 = time.process_time()
    for k in range(n_lanes):
        sim = engine.MD(x0, V[k], diam, box)
        ff = engine.ForceField(diam, box)
        for s in range(len(tt)):
            if s:
                sim.run(every, dt=dt)
            E[k, s] = ff.energy(sim.x) + engine.md.kinetic(sim.v)
    res["single"] = (E, time.process_time() - t0)
    LaneMD(np.array([x0] * n_lanes), np.array(V), diam, box).run(2, dt=dt)  # compile
    lm = LaneMD(np.array([x0] * n_lanes), np.array(V), diam, box)
    E = np.empty((n_lanes, len(tt)))
    t0 = time.process_time()
    for s in range(len(tt)):
        if s:
            lm.run(every, dt=dt)
        E[:, s] = lm.epot + lm.ekin
    res["lanes"] = (E, time.process_time() - t0)
    for path, (E, sec) in res.items():
        slope = np.array([np.polyfit(tt, e, 1)[0] for e in E]) / n
        dev = np.abs(E - E[:, :1]).max() / n
        print(f"{name}_md_drift_{path}: {np.median(np.abs(slope)):.2e} per particle per time unit (median of "
              f"{n_lanes} trajectories, largest {np.abs(slope).max():.2e}); largest |E(t) - E(0)| {dev:.2e} per "
              f"particle over {n_steps * dt:g} time units")
        print(f"{name}_md_step_us_{path}: {sec / (n_lanes * n_steps) * 1e6:.0f} us per trajectory-step")


def main():
    from scipy.stats import ks_2samp

    ap = argparse.ArgumentParser()
    ap.add_argument("--quenches", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--agreement", type=int, default=1000, help="snapshots quenched both ways per setting")
    ap.add_argument("--md-steps", type=int, default=2000)
    ap.add_argument("--lanes", type=int, default=EXPLORE_DEFAULTS["lanes"])
    ap.add_argument("--settings", default="tf0.092,tf0.062")
    ap.add_argument("--variants", default="lanes_mixed,lanes32", help="comma-separated, or '' for none")
    ap.add_argument("--n", type=int, default=1500, help="particles of the tf0.092 glass")
    a = ap.parse_args()
    settings = {"tf0.092": (glass_092, 0.05), "tf0.062": (glass_062, 0.2)}
    tot_agree = tot_snap = tot_unexplained = 0
    mix_agree = mix_unexplained = 0
    variants = [v for v in a.variants.split(",") if v]
    known_variants = {"lanes_mixed": dict(lane_precision="mixed"), "lanes32": dict(lanes=32), "lanes64": dict(lanes=64),
                      "lanes8": dict(lanes=8), "lanes16": dict(lanes=16)}
    for v in variants:
        if v not in known_variants:
            raise SystemExit(f"--variants: unknown variant {v!r}; known: {sorted(known_variants)}")
    for name in a.settings.split(","):
        make, tau = settings[name]
        x0, diam, box = make(a.n) if make is glass_092 else make()
        box = engine.as_box(box)
        n = len(diam)
        every = int(round(tau / EXPLORE_DEFAULTS["dt"]))
        p = dict(EXPLORE_DEFAULTS, tau_quench=tau, traj_time=a.quenches * tau)
        paths = {"single": dict(p, lanes=0), "lanes": dict(p, lanes=a.lanes)}
        for v in variants:
            paths[v] = dict(dict(p, lanes=a.lanes), **known_variants[v])
        for q in paths.values():
            run_trajectory(x0, diam, box, 0, 1, dict(q, traj_time=2 * tau))  # compile
        cpu = {k: [] for k in paths}
        out = {}
        for _ in range(a.rounds):
            for path, q in paths.items():
                t0 = time.process_time()
                out[path] = run_trajectory(x0, diam, box, 0, 1, q)
                cpu[path].append(time.process_time() - t0)
        print(f"{name}_particles: {n}")
        nq = len(out["single"]["sequence"])
        print(f"{name}_quenches: {nq} quenches per run (tau_quench {tau}, {every} MD steps apart), {a.rounds} "
              f"runs each way alternated; lanes {a.lanes}")
        rate = {}
        for path in paths:
            r = out[path]
            st = merge_trajectories([r], diam, box, EXPLORE_DEFAULTS["energy_tol"], EXPLORE_DEFAULTS["position_tol"])
            s = np.array(cpu[path]) / nq
            rate[path] = st.n_is / (np.median(cpu[path]) / 60)
            print(f"{name}_seconds_per_quench_{path}: {np.median(s):.4f} s (rounds: {' '.join(f'{v:.4f}' for v in s)})")
            print(f"{name}_distinct_is_per_cpu_minute_{path}: {rate[path]:.0f} IS/min")
            print(f"{name}_record_{path}: {st.n_is} distinct IS, {int(st.trans_count.sum())} transitions, "
                  f"{r['n_early_exit']} early stops, {r['n_unconverged']} unconverged; FIRE steps per quench "
                  f"{r['n_fire_steps'] / nq:.0f} (+ {r['n_refine_steps'] / nq:.0f} refining new IS)")
            out[path + "_store"] = st
        ratios = np.array(cpu["single"]) / np.array(cpu["lanes"])
        print(f"{name}_lanes_speedup: {np.median(ratios):.2f} x (rounds: {' '.join(f'{v:.2f}' for v in ratios)}; "
              f"IS per CPU-minute {rate['lanes'] / rate['single']:.2f} x)")
        for v in variants:
            rs = np.array(cpu["single"]) / np.array(cpu[v])
            rl = np.array(cpu["lanes"]) / np.array(cpu[v])
            print(f"{name}_{v}_speedup: {np.median(rs):.2f} x (rounds: {' '.join(f'{x:.2f}' for x in rs)}; "
                  f"IS per CPU-minute {rate[v] / rate['single']:.2f} x)")
            print(f"{name}_{v}_vs_lanes: {np.median(rl):.2f} x (rounds: {' '.join(f'{x:.2f}' for x in rl)}; "
                  f"IS per CPU-minute {rate[v] / rate['lanes']:.2f} x)")
        ea, eb = out["single_store"].energy, out["lanes_store"].energy
        print(f"{name}_is_energy_ks_pvalue: {ks_2samp(ea, eb).pvalue:.3f} (IS energies per particle of the two "
              f"records: mean {ea.mean():.6f} against {eb.mean():.6f})")
        # the MD is one trajectory per process in both paths (bit for bit the same snapshots): the records differ
        # only where a quench ends in another IS
        es = [out["single"]["energies"][k] if k >= 0 else np.nan for k in out["single"]["sequence"]]
        el = [out["lanes"]["energies"][k] if k >= 0 else np.nan for k in out["lanes"]["sequence"]]
        same = np.abs(np.array(es) - np.array(el)) <= EXPLORE_DEFAULTS["energy_tol"]
        print(f"{name}_records_same_is: {int(same.sum())} of {nq} quenches of the alternated runs end in an IS of the "
              f"same energy in both records")
        if a.agreement:
            ag, unexplained, am, um = agreement(name, x0, diam, box, every, a.agreement, a.lanes,
                                                mixed="lanes_mixed" in variants)
            tot_agree += ag
            tot_snap += a.agreement
            tot_unexplained += unexplained
            if am is not None:
                mix_agree += am
                mix_unexplained += um
        if a.md_steps:
            md_drift(name, x0, diam, box, a.md_steps)
    print(f"quench_agreement_all: {tot_agree / max(tot_snap, 1):.4f} ({tot_agree} of {tot_snap} snapshots; "
          f"{tot_unexplained} disagreements unexplained)")
    if "lanes_mixed" in variants and tot_snap:
        print(f"quench_agreement_all_lanes_mixed: {mix_agree / tot_snap:.4f} ({mix_agree} of {tot_snap} snapshots; "
              f"{mix_unexplained} disagreements unexplained)")


if __name__ == "__main__":
    main()
