"""Glass preparation by an MD cooling protocol, for models where swap Monte Carlo does not apply (a native-lj
model such as Kob-Andersen; study key ``prepare.protocol: cooling``).

The protocol a LAMMPS user runs with ``fix langevin`` (or ``fix nvt``) and a temperature ramp:

1. N particles of the given ``composition`` (fraction per atom type, types assigned at random by the glass
   seed) in a cubic box at number ``density``, on a jittered lattice (``start: lattice``) or at uniformly
   random positions (``start: random``), relaxed by FIRE to max|F| < 1 so that the first MD step is safe;
2. Langevin NVT (BAOAB, friction ``gamma``, per-particle masses) at the glass group's Tf (the liquid's
   temperature; ``tf`` names the glass as in the swap protocol) for ``equilibrate_time``;
3. a linear ramp of the target temperature from Tf to ``T_final`` over ``cool_time`` (rate
   (Tf - T_final) / cool_time);
4. ``hold_time`` at ``T_final`` (null: the exploration's T, so that the glass starts its exploration at the
   temperature the exploration runs).

The MD is :class:`tlspipe.engine.lj_md.LJDynamics`.  The glass is written as a LAMMPS ``atomic`` data file
(types, the model's masses per type, velocities) that ``tlspipe explore --model`` and the study read; its
metadata (JSON) records the protocol, the energy per particle at the end of each stage and the inherent
structure's.  No equilibration check is made (it is reported as ``equilibrated: null``): a cooling protocol
is a recipe, not an equilibrium at Tf.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .defaults import COOLING_DEFAULTS


def check_cooling(p: dict, where: str = "prepare.cooling") -> dict:
    """The cooling parameters with defaults; a ValueError naming the key for a value that cannot make a glass."""
    unknown = set(p) - set(COOLING_DEFAULTS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(COOLING_DEFAULTS)}")
    q = {**COOLING_DEFAULTS, **{k: v for k, v in p.items() if v is not None or k == "T_final"}}
    if q["density"] is None or not (isinstance(q["density"], (int, float)) and q["density"] > 0):
        raise ValueError(f"{where}.density: give the number density of the glass (e.g. 1.2 for Kob-Andersen)")
    c = q["composition"]
    if not isinstance(c, (list, tuple)) or not c or any(not (isinstance(f, (int, float)) and f >= 0) for f in c) \
            or not math.isclose(sum(c), 1.0, abs_tol=1e-9):
        raise ValueError(f"{where}.composition: give the fraction of particles of each atom type 1, 2, ..., summing "
                         f"to 1 (e.g. [0.8, 0.2] for Kob-Andersen), got {c!r}")
    if q["start"] not in ("lattice", "random"):
        raise ValueError(f"{where}.start: 'lattice' or 'random', got {q['start']!r}")
    for k in ("equilibrate_time", "cool_time", "hold_time"):
        if not (isinstance(q[k], (int, float)) and q[k] >= 0):
            raise ValueError(f"{where}.{k}: a duration >= 0, got {q[k]!r}")
    for k in ("dt", "gamma"):
        if not (isinstance(q[k], (int, float)) and q[k] > 0):
            raise ValueError(f"{where}.{k}: must be > 0, got {q[k]!r}")
    if q["T_final"] is not None and not q["T_final"] > 0:
        raise ValueError(f"{where}.T_final: must be > 0 (or null: the exploration's T)")
    return q


def type_counts(n: int, composition) -> np.ndarray:
    """Particles per type: round(f_t N) for every type but the last, which takes the rest."""
    c = [int(round(f * n)) for f in composition[:-1]]
    c.append(n - sum(c))
    if min(c) < 0:
        raise ValueError(f"composition {composition} cannot be split among {n} particles")
    return np.asarray(c, np.int64)


def cool_glass(model, n: int, tf: float, seed: int, params: dict, T_explore: float | None = None,
               progress=None) -> dict:
    """Make one glass by the protocol of the module docstring.  Returns {positions (wrapped), velocities, types,
    masses, box, meta}."""
    from .. import engine
    from ..engine.lj import lj_params
    from ..engine.lj_md import LJDynamics, maxwell_velocities_masses
    from ..util.periodic import wrap

    q = check_cooling(params)
    T_final = q["T_final"] if q["T_final"] is not None else T_explore
    if T_final is None:
        raise ValueError("prepare.cooling.T_final: give it, or the exploration's T")
    if not tf > 0:
        raise ValueError(f"glasses: tf = {tf}: the liquid's temperature must be > 0")
    counts = type_counts(n, q["composition"])
    n_types = len(counts)
    params_lj, why = lj_params(model, n_types)
    if params_lj is None:
        raise ValueError(f"prepare.protocol cooling runs the native Lennard-Jones family, and {model.describe()} "
                         f"is not one ({why}); make its glasses with LAMMPS and give them as data files")
    rng = np.random.default_rng(seed)
    types = rng.permutation(np.repeat(np.arange(1, n_types + 1), counts))
    masses = model.type_masses(n_types)[types]
    L = (n / float(q["density"])) ** (1.0 / 3.0)
    box = engine.as_box(L)
    if q["start"] == "lattice":
        x = engine.lattice_start(n, box, rng, 0.2)
    else:
        x = rng.uniform(-L / 2, L / 2, size=(n, 3))
    dyn = LJDynamics(params_lj, types - 1, masses, box)
    t0 = time.perf_counter()
    x, r0 = dyn.fire(x, ftol=1.0, max_steps=50_000)
    v = maxwell_velocities_masses(masses, tf, rng)
    dt = float(q["dt"])
    stages = []

    def run(duration, T0, T1, name, n_chunks=10):
        steps = int(round(duration / dt))
        e = dyn.energy_forces(x)[0]
        for c in range(n_chunks):
            a, b = c * steps // n_chunks, (c + 1) * steps // n_chunks
            if b > a:
                Ta = T0 + (T1 - T0) * a / steps
                Tb = T0 + (T1 - T0) * b / steps
                e = dyn.md(x, v, dt, b - a, thermostat="langevin", T=(Ta, Tb), gamma=q["gamma"],
                           seed=int(rng.integers(2**31)))
        from ..engine.lj_md import kinetic_temperature

        stages.append({"stage": name, "steps": steps, "energy_per_particle": e / n,
                       "temperature": kinetic_temperature(v, masses)})
        if progress is not None:
            progress(len(stages), 3)

    run(q["equilibrate_time"], tf, tf, "equilibrate")
    run(q["cool_time"], tf, T_final, "cool")
    run(q["hold_time"], T_final, T_final, "hold")
    _, res = dyn.fire(x, ftol=1e-10)
    meta = {"n_particles": n, "tf": tf, "seed": seed, "protocol": "cooling", "params": {**q, "T_final": T_final},
            "model_name": model.name, "model_sha256": model.sha256, "type_counts": counts.tolist(),
            "density": float(q["density"]), "stages": stages, "initial_relaxation_steps": r0.n_steps,
            "cool_rate": (tf - T_final) / q["cool_time"] if q["cool_time"] > 0 else None,
            "swap_acceptance": None, "equilibration": {"equilibrated": None, "reason": "cooling protocol"},
            "inherent_energy_per_particle": res.energy / n, "seconds": time.perf_counter() - t0}
    return {"positions": wrap(x, box), "velocities": v, "types": types, "masses": masses, "box": box, "meta": meta}


def write_cooled_glass(g: dict, model, data_path, meta_path=None):
    """The glass as a LAMMPS atomic data file (types, the model's Masses, velocities if any; the box corners
    ``lo``, ``hi`` if given, else centred) and its JSON beside it."""
    from ..store.lammps import write_lammps_data
    from ..util.io import atomic_path

    data_path = Path(data_path)
    meta_path = Path(meta_path) if meta_path else data_path.with_suffix(".json")
    n_types = int(g["types"].max())
    tm = model.type_masses(n_types)
    m = g["meta"]
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(m, indent=1))
        write_lammps_data(data_path, g["positions"], np.ones(len(g["types"])), g["box"], atom_style="atomic",
                          types=g["types"], type_masses={t: float(tm[t]) for t in range(1, n_types + 1)},
                          velocities=g["velocities"], lo=g.get("lo"), hi=g.get("hi"),
                          comment=f"tlspipe glass ({m['model_name']}, {m.get('protocol', 'cooling')} protocol): "
                                  f"N={m['n_particles']} Tf={m['tf']} seed={m['seed']}")
    return data_path, meta_path
