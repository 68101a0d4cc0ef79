"""Throughput of the native engine at N = 1500, density 1, one thread, and the same calls through stock
LAMMPS (pair_style lepton/sphere, tlspipe.engine.lammps) on the authors' glass, side by side.

Prints one `name: value unit` line per figure; the last line is `force_eval_us: X`.
The LAMMPS section (skip with --no-lammps) takes the authors' inherent structure at Tf = 0.062 (the tests'
fixture), heated to T = 0.04 by 2000 native MD steps, and times on that one snapshot, alternating the two
engines --rounds times within the same minutes:
  energy + forces of one configuration: native ForceField.energy_forces (persistent list) against
    LammpsEngine.energy_forces (scatter, `run 0`: setup + neighbour build + forces, gather);
  (and, for reference, the native force kernel alone on a fixed list);
  an NVE MD step, neighbour-list rebuilds included: native MD.run against `fix nve` + `run`.
The lanes section: L trajectories of the glass (L = 1, 4, 8, 16, 32, 64) in SIMD lanes over one shared list
(tlspipe.engine.lanes): the force call and the NVE MD step per configuration, rebuilds included, alternated
round by round with one configuration at a time (ForceField.energy_forces, MD.run).
Usage: python benchmarks/engine.py [--n 1500] [--repeat 2000] [--rounds 3] [--no-lammps] [--lanes 1,4,8,16]
"""

import argparse
import time
from pathlib import Path

import numpy as np

from tlspipe import engine, model
from tlspipe.engine.potential import energy_forces

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ciarella2023_T0.062" / "2.044810139E-01.conf.txt"


def _median_us(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def lammps_side_by_side(rounds: int):
    """Native and LAMMPS on the same snapshot of the authors' glass, alternated; prints the figures."""
    from tlspipe.engine.lammps import LammpsEngine
    from tlspipe.store.lammps import read_lammps_data

    d = read_lammps_data(FIXTURE)
    n = d.n_particles
    box = engine.as_box(d.box)
    sim = engine.MD(d.positions, engine.maxwell_velocities(n, 0.04, np.random.default_rng(0)), d.diameters, box)
    sim.run(2000, dt=0.01)
    snap, vel = sim.x.copy(), sim.v.copy()
    ff = engine.ForceField(d.diameters, box)
    e_nat, f_nat = ff.energy_forces(snap)
    pi, pj, ps, sh, npairs, _ = ff._nl
    fbuf = np.empty_like(snap)
    res = {k: [] for k in ("nat_call", "lmp_call", "nat_kernel", "nat_md", "lmp_md")}
    with LammpsEngine(d.diameters, box) as lmp:
        e_lmp, f_lmp = lmp.energy_forces(snap)
        lmp.run_nve(snap, vel, 0.01, 5)  # warm up
        for _ in range(rounds):
            res["nat_call"].append(_median_us(lambda: ff.energy_forces(snap), 200))
            res["nat_kernel"].append(_median_us(lambda: energy_forces(snap, ff.box, pi, pj, ps, sh, npairs, fbuf), 200))
            res["lmp_call"].append(_median_us(lambda: lmp.energy_forces(snap), 20))
            m = engine.MD(snap, vel, d.diameters, box)
            t0 = time.perf_counter()
            m.run(1000, dt=0.01)
            res["nat_md"].append((time.perf_counter() - t0) / 1000 * 1e6)
            t0 = time.perf_counter()
            lmp.run_nve(snap, vel, 0.01, 100)
            res["lmp_md"].append((time.perf_counter() - t0) / 100 * 1e6)
    med = {k: float(np.median(v)) for k, v in res.items()}
    fmt = lambda v: " ".join(f"{x:.0f}" for x in v)  # noqa: E731
    print(f"lammps_glass: authors' Tf = 0.062 IS heated to T = 0.04, N = {n}, {npairs} listed pairs")
    print(f"lammps_energy_agreement: {abs(e_lmp - e_nat) / n:.1e} per particle, "
          f"max |dF| {np.abs(f_lmp - f_nat).max():.1e}")
    print(f"native_energy_forces_call_us: {med['nat_call']:.0f} us (rounds: {fmt(res['nat_call'])})")
    print(f"native_force_kernel_us: {med['nat_kernel']:.0f} us (rounds: {fmt(res['nat_kernel'])})")
    print(f"lammps_energy_forces_call_us: {med['lmp_call']:.0f} us (run 0; rounds: {fmt(res['lmp_call'])})")
    print(f"lammps_over_native_energy_forces: {med['lmp_call'] / med['nat_call']:.0f} x")
    print(f"native_md_step_us: {med['nat_md']:.0f} us (rounds: {fmt(res['nat_md'])})")
    print(f"lammps_md_step_us: {med['lmp_md']:.0f} us (fix nve; rounds: {fmt(res['lmp_md'])})")
    print(f"lammps_over_native_md_step: {med['lmp_md'] / med['nat_md']:.0f} x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of native and LAMMPS")
    ap.add_argument("--no-lammps", action="store_true", help="skip the side-by-side LAMMPS figures")
    ap.add_argument("--lanes", type=lambda s: [int(v) for v in s.split(",")], default=[1, 4, 8, 16, 32, 64],
                    help="lane counts of the lanes figures")
    a = ap.parse_args()
    n = a.n
    rng = np.random.default_rng(0)
    box = model.box_length(n)
    diam = rng.permutation(model.diameters(n))
    x, _ = engine.fire_minimise(engine.lattice_start(n, box, rng, 0.2), diam, box, ftol=1e-6)
    sim = engine.MD(x, engine.maxwell_velocities(n, 0.04, rng), diam, box)
    sim.run(2000, dt=0.01)  # thermalise at T ~ 0.04 (also compiles)
    snap = sim.x.copy()

    # energy + forces on a fixed neighbour list
    ff = engine.ForceField(diam, box)
    ff.energy_forces(snap)
    pi, pj, ps, sh, npairs, _ = ff._nl
    f = np.empty_like(snap)
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        energy_forces(snap, ff.box, pi, pj, ps, sh, npairs, f)
        times.append(time.perf_counter() - t0)
    t_force = np.median(times) * 1e6

    # MD step including amortised neighbour-list rebuilds
    n_steps = 5000
    r0 = sim.n_rebuilds
    t0 = time.perf_counter()
    sim.run(n_steps, dt=0.01)
    t_md = (time.perf_counter() - t0) / n_steps * 1e6
    steps_per_rebuild = n_steps / max(sim.n_rebuilds - r0, 1)

    # FIRE from MD snapshots at T = 0.04 to |F| < 1e-10
    fire_t, fire_steps = [], []
    for k in range(5):
        sim.run(200, dt=0.01)
        t0 = time.perf_counter()
        _, res = engine.fire_minimise(sim.x, diam, box, ftol=1e-10)
        fire_t.append(time.perf_counter() - t0)
        fire_steps.append(res.n_steps)
        assert res.converged

    print(f"n_particles: {n} particles")
    print(f"neighbour_pairs: {npairs} pairs")
    print(f"force_eval_ns_per_pair: {t_force * 1e3 / npairs:.2f} ns")
    print(f"md_step_us: {t_md:.1f} us")
    print(f"md_steps_per_rebuild: {steps_per_rebuild:.1f} steps")
    t0 = time.perf_counter()
    for _ in range(20):
        engine.build_pairs(snap, diam, ff.box, 0.3, 2 * npairs)
    print(f"neighbour_build_us: {(time.perf_counter() - t0) / 20 * 1e6:.0f} us")
    print(f"fire_1e-10_steps_median: {np.median(fire_steps):.0f} steps")
    print(f"fire_1e-10_seconds_median: {np.median(fire_t):.3f} s")
    lanes_figures(snap, sim.v.copy(), diam, box, a.rounds, a.lanes)
    if not a.no_lammps:
        lammps_side_by_side(a.rounds)
    print(f"force_eval_us: {t_force:.1f}")


def lanes_figures(snap, vel, diam, box, rounds, widths):
    """Force call and NVE MD step per configuration, L trajectories of the glass in lanes
    (tlspipe.engine.lanes) against one configuration at a time, alternated round by round."""
    from tlspipe.engine.lanes import LaneForces, LaneMD, lane_width

    n = len(diam)
    box = engine.as_box(box)
    lmax = max(widths)
    # lmax trajectories of the glass, 300 steps apart from the snapshot: the spread of an exploration's lanes
    X, V = [], []
    for k in range(lmax):
        v = engine.maxwell_velocities(n, 0.04, np.random.default_rng([5, k]))
        m = engine.MD(snap, v, diam, box)
        m.run(300, dt=0.01)
        X.append(m.x.copy())
        V.append(m.v.copy())
    X, V = np.array(X), np.array(V)
    ff = engine.ForceField(diam, box)
    res = {}
    for _ in range(rounds):
        for k in range(lmax):
            ff.reset()
            ff.energy_forces(X[k])
        res.setdefault("single_call", []).append(
            np.median([_median_us(lambda: ff.energy_forces(X[k]), 50) for k in range(0, lmax, max(lmax // 4, 1))]))
        m = engine.MD(X[0], V[0], diam, box)
        m.run(10, dt=0.01)
        t0 = time.process_time()
        m.run(500, dt=0.01)
        res.setdefault("single_md", []).append((time.process_time() - t0) / 500 * 1e6)
        for L in widths:
            W = lane_width(L)
            XT = np.empty((n, 3, W))
            XT[:, :, :L] = np.transpose(X[:L], (1, 2, 0))
            XT[:, :, L:] = XT[:, :, L - 1: L]
            FT, ET = np.empty_like(XT), np.empty(W)
            live = np.zeros(W, np.bool_)
            live[:L] = True
            lf = LaneForces(diam, box, W)
            lf(XT, FT, ET, live)
            res.setdefault(f"call{L}", []).append(_median_us(lambda: lf(XT, FT, ET, live), 50) / L)
            md = LaneMD(X[:L], V[:L], diam, box)
            md.run(10, dt=0.01)
            t0 = time.process_time()
            md.run(300, dt=0.01)
            res.setdefault(f"md{L}", []).append((time.process_time() - t0) / (300 * L) * 1e6)
            res.setdefault(f"builds{L}", []).append(md.forces.n_builds)
    fmt = lambda v: " ".join(f"{x:.0f}" for x in v)  # noqa: E731
    med = {k: float(np.median(v)) for k, v in res.items()}
    print(f"single_force_call_us: {med['single_call']:.0f} us (persistent list; rounds: {fmt(res['single_call'])})")
    print(f"single_md_step_us: {med['single_md']:.0f} us (rounds: {fmt(res['single_md'])})")
    for L in widths:
        print(f"lanes{L}_force_call_us_per_config: {med[f'call{L}']:.0f} us ({lane_width(L)} lanes allocated; "
              f"single {med['single_call']:.0f} us; rounds: {fmt(res[f'call{L}'])})")
        print(f"lanes{L}_md_step_us_per_config: {med[f'md{L}']:.0f} us (single {med['single_md']:.0f} us; "
              f"{med[f'builds{L}']:.0f} shared-list builds in 310 steps; rounds: {fmt(res[f'md{L}'])})")


if __name__ == "__main__":
    main()
