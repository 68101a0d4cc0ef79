"""Glass preparation: equilibrate the liquid at Tf with hybrid MD / particle-swap Monte Carlo, then cool.

Protocol (Ciarella et al. 2023, Methods B; Ninarello, Berthier, Coslovich 2017):

1. start from a jittered lattice with the N deterministic diameters in random order; melt it by MD at
   T_melt for ``melt_time``;
2. ``n_blocks`` blocks, each ``swaps_per_particle * N`` swap attempts at Tf followed by MD of duration
   ``md_time`` under a Langevin thermostat at Tf (friction ``gamma``);
3. cool with a Berendsen thermostat whose target falls linearly from Tf to T_final over ``cool_time``.

The energy per particle is recorded after every block; the equilibration check compares the mean of the
third and fourth quarters of the trace: equilibrated when they differ by less than ``check_sigmas``
standard errors (from the fourth quarter's blocks, corrected for correlation by batching).  The check is
reported, never silently trusted: a glass that fails it is still written, with ``equilibrated: false``.
"""

from __future__ import annotations

import json
import math
import logging
import time
from dataclasses import dataclass

import numpy as np

from .. import engine, model
from .defaults import PREPARE_DEFAULTS

log = logging.getLogger("tlspipe.prepare")



@dataclass
class Glass:
    positions: np.ndarray  # (N, 3), wrapped into [-L/2, L/2)
    velocities: np.ndarray
    diameters: np.ndarray
    box: np.ndarray
    meta: dict


def equilibration_check(trace: np.ndarray, n_sigmas: float = 3.0, n_batches: int = 8) -> dict:
    """Is the energy trace flat over its last half?  Compares the means of the 3rd and 4th quarters."""
    t = np.asarray(trace, float)
    q = len(t) // 4
    if q < n_batches:
        return {"equilibrated": False, "reason": f"trace too short ({len(t)} blocks) for a check"}
    a, b = t[2 * q : 3 * q], t[3 * q : 4 * q]

    def sem(x):
        m = len(x) // n_batches
        means = x[: m * n_batches].reshape(n_batches, m).mean(1)
        return means.std(ddof=1) / np.sqrt(n_batches)

    err = float(np.hypot(sem(a), sem(b)))
    diff = float(b.mean() - a.mean())
    ok = abs(diff) < n_sigmas * max(err, 1e-12)
    return {"equilibrated": bool(ok), "drift_last_half": diff, "drift_error": err,
            "energy_last_quarter": float(b.mean())}


def prepare_glass(n: int, tf: float, seed: int, progress=None, **params) -> Glass:
    """Make one glass of n particles equilibrated at Tf and cooled to T_final.  See the module docstring."""
    p = dict(PREPARE_DEFAULTS)
    unknown = set(params) - set(p)
    if unknown:
        raise ValueError(f"unknown preparation parameters {sorted(unknown)}; known: {sorted(p)}")
    p.update(params)
    _check_prepare(n, tf, p)
    try:
        return _prepare(n, tf, seed, progress, p)
    except engine.NonFiniteError as e:
        raise ValueError(f"prepare (N = {n}, Tf = {tf}, seed {seed}): the dynamics blew up ({e}) with dt = "
                         f"{p['dt']}; use a smaller dt (--dt, config prepare.dt; default "
                         f"{PREPARE_DEFAULTS['dt']})") from e


#: preparation parameters that must be > 0 (the others must be >= 0)
_POSITIVE = ("dt", "T_melt", "T_final", "tau_berendsen", "md_time")


def _check_prepare(n, tf, p):
    """ValueError naming the parameter (with its flag) that cannot make a glass."""
    if not float(n).is_integer() or n < 2:
        raise ValueError(f"n = {n} (--n): the number of particles must be an integer >= 2 (e.g. 1500)")
    if not math.isfinite(tf) or tf <= 0:
        raise ValueError(f"tf = {tf} (--tf): the preparation temperature must be > 0 (k_B T / epsilon; the "
                         "paper's are 0.062, 0.07 and 0.092)")
    for k, v in p.items():
        low_ok = v > 0 if k in _POSITIVE else v >= 0
        if not (isinstance(v, (int, float)) and math.isfinite(v) and low_ok):
            raise ValueError(f"{k} = {v} (--{k.replace('_', '-')}): must be a finite number "
                             f"{'> 0' if k in _POSITIVE else '>= 0'} (default {PREPARE_DEFAULTS[k]})")


def _prepare(n, tf, seed, progress, p) -> Glass:
    rng = np.random.default_rng(seed)
    box = engine.as_box(model.box_length(n))
    diam = rng.permutation(model.diameters(n))
    x = engine.lattice_start(n, box, rng, 0.2)
    x, _ = engine.fire_minimise(x, diam, box, ftol=1e-3, max_steps=20_000)
    dt = p["dt"]
    sim = engine.MD(x, engine.maxwell_velocities(n, p["T_melt"], rng), diam, box)
    t0 = time.perf_counter()
    sim.run(int(round(p["melt_time"] / dt)), dt=dt, thermostat="langevin", T=p["T_melt"], gamma=p["gamma"],
            seed=int(rng.integers(2**31)))
    n_md = max(int(round(p["md_time"] / dt)), 1)
    n_swap = int(p["swaps_per_particle"] * n)
    trace = np.empty(p["n_blocks"])
    acc_total = 0
    for k in range(p["n_blocks"]):
        if n_swap:
            d_new, acc, _ = engine.swap_mc(sim.wrapped(), sim.diameters, box, n_swap, tf,
                                           seed=int(rng.integers(2**31)))
            if acc:
                sim.diameters[:] = d_new
                sim.rebuild()
            acc_total += acc
        sim.run(n_md, dt=dt, thermostat="langevin", T=tf, gamma=p["gamma"], seed=int(rng.integers(2**31)))
        trace[k] = sim.epot / n
        if progress is not None:
            progress(k + 1, p["n_blocks"], trace[k])
    t_eq = time.perf_counter() - t0
    check = equilibration_check(trace, p["check_sigmas"])
    # cooling: Berendsen with a linear ramp of the target temperature, in 100 stages
    n_cool = max(int(round(p["cool_time"] / dt)), 1)
    stages = min(100, n_cool)
    for s in range(stages):
        target = tf + (p["T_final"] - tf) * (s + 1) / stages
        sim.run(n_cool // stages, dt=dt, thermostat="berendsen", T=target, tau=p["tau_berendsen"])
    _, res = engine.fire_minimise(sim.x, sim.diameters, box, ftol=1e-10)
    meta = {
        "n_particles": n,
        "tf": tf,
        "seed": seed,
        "params": p,
        "swap_acceptance": acc_total / max(n_swap * p["n_blocks"], 1),
        "energy_trace_per_particle": trace.tolist(),
        "equilibration": check,
        "temperature_after_cooling": sim.temperature,
        "energy_per_particle_final": sim.epot / n,
        "inherent_energy_per_particle": res.energy / n,
        "seconds": time.perf_counter() - t0,
        "seconds_equilibration": t_eq,
    }
    return Glass(sim.wrapped(), sim.v.copy(), sim.diameters.copy(), box, meta)


def write_glass(glass: Glass, data_path, meta_path=None):
    """The configuration as a LAMMPS data file (atom_style charge, charge = diameter, with velocities) and
    its metadata as JSON beside it (``equilibrated.json`` by default)."""
    from pathlib import Path

    from ..store.lammps import write_lammps_data
    from ..util.io import atomic_path

    data_path = Path(data_path)
    meta_path = Path(meta_path) if meta_path else data_path.with_suffix(".json")
    m = glass.meta
    comment = (f"tlspipe glass: N={m['n_particles']} Tf={m['tf']} seed={m['seed']} "
               f"equilibrated={m['equilibration']['equilibrated']}")
    with atomic_path(meta_path) as tmp:  # the metadata appears only once the data file is complete
        tmp.write_text(json.dumps(m, indent=1))
        write_lammps_data(data_path, glass.positions, glass.diameters, glass.box, atom_style="charge",
                          velocities=glass.velocities, comment=comment)
    return data_path, meta_path
