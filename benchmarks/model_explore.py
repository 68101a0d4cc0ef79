"""Cost of the native exploration of a native-lj model (Kob-Andersen 80:20, N = 1000, density 1.2), one thread,
the variants alternated in the same minutes.

  quench_ka_compiled_ms   FIRE of tlspipe.engine.lj_md (one numba call over the Lennard-Jones kernel) from an IS
                          displaced by 0.1 (normal noise) to max|F| < 1e-6
  quench_ka_numpy_ms      the same descent by tlspipe.engine.backend.fire (numpy steps on the compiled force call)
  quench_steps_*          their FIRE steps (the same algorithm: equal up to rounding)
  md_ka_step_us           one velocity-Verlet step of tlspipe.engine.lj_md at T = 0.3 (list rebuilds included)
Usage: python benchmarks/model_explore.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tlspipe import engine
from tlspipe.engine.backend import System, fire, make_backend
from tlspipe.engine.lj_md import LJDynamics, maxwell_velocities_masses
from tlspipe.models import load_model

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    m = load_model(REPO / "config" / "models" / "kob-andersen.yaml")
    n = 1000
    rng = np.random.default_rng(0)
    types = rng.permutation(np.repeat([1, 2], [800, 200]))
    box = engine.as_box((n / 1.2) ** (1 / 3))
    be = make_backend(System(m, types, np.ones(n), np.ones(n), box))
    dyn = LJDynamics(be.params, types - 1, np.ones(n), box)
    x = engine.lattice_start(n, box, rng, 0.2)
    x, _ = dyn.fire(x, ftol=1.0)
    v = maxwell_velocities_masses(np.ones(n), 0.6, rng)
    dyn.md(x, v, 0.005, 4000, thermostat="langevin", T=(0.6, 0.3), seed=1)
    xm, _ = dyn.fire(x, ftol=1e-6)
    starts = [xm + rng.normal(0, 0.1, xm.shape) for _ in range(a.rounds)]
    dyn.fire(starts[0], ftol=1e-6)  # compile
    for k, s in enumerate(starts):
        t = time.perf_counter()
        _, r1 = dyn.fire(s, ftol=1e-6)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        _, r2 = fire(be.energy_forces, s, ftol=1e-6)
        t2 = time.perf_counter() - t
        print(f"quench_ka_compiled_ms: {t1 * 1e3:.1f} ms")
        print(f"quench_ka_numpy_ms: {t2 * 1e3:.1f} ms")
        print(f"quench_steps_compiled: {r1.n_steps} steps")
        print(f"quench_steps_numpy: {r2.n_steps} steps")
        y, w = xm.copy(), maxwell_velocities_masses(np.ones(n), 0.3, rng)
        t = time.perf_counter()
        dyn.md(y, w, 0.005, 1000)
        print(f"md_ka_step_us: {(time.perf_counter() - t) * 1e3:.1f} us")


if __name__ == "__main__":
    main()
