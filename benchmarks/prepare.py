"""Glass preparation at the paper's scale: IS energy per particle after hybrid swap-MC equilibration.

The authors' glasses lie at 0.210-0.221 (Tf = 0.07) and 0.200-0.211 (Tf = 0.062) per particle.
Usage: python benchmarks/prepare.py [--n 1500] [--tf 0.07] [--blocks 3000] [--seed 1]
Last line: `is_energy_per_particle: X`.
"""

import argparse
import time

from tlspipe.sample.prepare import prepare_glass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--tf", type=float, default=0.07)
    ap.add_argument("--blocks", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0 = time.perf_counter()
    g = prepare_glass(a.n, a.tf, a.seed, n_blocks=a.blocks)
    dt = time.perf_counter() - t0
    m = g.meta
    print(f"n_particles: {a.n}")
    print(f"tf: {a.tf}")
    print(f"blocks: {a.blocks} (each {5 * a.n} swap attempts + MD of duration 0.1)")
    print(f"swap_acceptance: {m['swap_acceptance']:.4f}")
    print(f"equilibrated: {m['equilibration']['equilibrated']} (drift over last half "
          f"{m['equilibration']['drift_last_half']:.2e} +- {m['equilibration']['drift_error']:.1e})")
    print(f"seconds_per_block: {m['seconds_equilibration'] / a.blocks:.4f} s")
    print(f"wall_seconds: {dt:.1f} s")
    print(f"is_energy_per_particle: {m['inherent_energy_per_particle']:.6f}")


if __name__ == "__main__":
    main()
