"""Throughput of the native engine at N = 1500, density 1, one thread.

Prints one `name: value unit` line per figure; the last line is `force_eval_us: X`.
Usage: python benchmarks/engine.py [--n 1500] [--repeat 2000]
"""

import argparse
import time

import numpy as np

from tlspipe import engine, model
from tlspipe.engine.potential import energy_forces


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=2000)
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
    print(f"force_eval_us: {t_force:.1f}")


if __name__ == "__main__":
    main()
