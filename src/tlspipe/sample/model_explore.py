"""Native exploration of a model other than the soft spheres that the native Lennard-Jones family runs
(``native-lj``, e.g. Kob-Andersen): the trajectory of :func:`tlspipe.sample.explore.run_trajectory` with MD
and quenches compiled over the Lennard-Jones kernel (:class:`tlspipe.engine.lj_md.LJDynamics`).

Same semantics as the soft-sphere path, one quench at a time: fresh Maxwell velocities at T for the
particles' masses (seeded by glass seed and trajectory index), NVE velocity Verlet, a FIRE quench every
``tau_quench`` to ``ftol`` with the early stop at IS already found (``early_exit``, the same test and
thresholds), each new IS refined to ``refine_ftol`` before it is stored, the same IS identity test and the same
trajectory record, so the checkpoints, the merge and the store are those of the soft spheres.  The quenches
are not run in lanes (the lanes are the soft-sphere kernels), whatever ``lanes`` says.

The early stop's energy margin: the soft spheres' default ``exit_energy`` (1e-4 epsilon) is too wide for
Kob-Andersen, whose minima have sub-basins (about 1e-5 epsilon deep, 1.4e-3 sigma apart) behind barriers
below 1e-4: on an IS of ``tests/data/ka250``, descents from pushes of 0.002-0.01 sigma were stopped at the
IS while their full descents ended in such a neighbour.  When ``exit_energy`` is left at the soft-sphere
default it is therefore lowered to :data:`LJ_EXIT_ENERGY` (1e-6, where no such stop was made; a value given
by the user is kept).
"""

from __future__ import annotations

import numpy as np

from .. import engine
from ..util.periodic import wrap
from .defaults import EXPLORE_DEFAULTS

#: the early stop's energy margin (epsilon) for native-lj models when exit_energy is left at its default
LJ_EXIT_ENERGY = 1e-6


def dynamics_of(model_lines, box):
    """(LJDynamics, n) of an exploration's ``model_lines`` entry (:func:`tlspipe.models.explore_model_params`),
    or None when the native Lennard-Jones family does not implement the model."""
    from ..engine.lj import lj_params
    from ..engine.lj_md import LJDynamics
    from ..models import parse_model

    m = parse_model(model_lines["text"], model_lines["source"])
    types = np.asarray(model_lines["types"], np.int64)
    params, _ = lj_params(m, int(types.max()))
    if params is None:
        return None
    return LJDynamics(params, types - 1, np.asarray(model_lines["masses"], np.float64), box)


def native_model_runs(model_lines, box) -> bool:
    return dynamics_of(model_lines, box) is not None


def run_trajectory_model(x0, box, traj: int, seed: int, p: dict) -> dict:
    """One trajectory of a native-lj model (module docstring); the record of run_trajectory."""
    from ..engine.lj_md import maxwell_velocities_masses
    from .explore import ISRegistry, _trajectory_record

    box = engine.as_box(box)
    dyn = dynamics_of(p["model_lines"], box)
    if dyn is None:
        raise ValueError("the native exploration runs only models of the native Lennard-Jones family; use engine "
                         "'lammps' for this model")
    n = dyn.types.size
    rng = np.random.default_rng([seed, traj])
    v = maxwell_velocities_masses(dyn.masses, p["T"], rng)
    x = np.array(x0, np.float64, order="C", copy=True)
    n_steps = int(round(p["traj_time"] / p["dt"]))
    every = max(int(round(p["tau_quench"] / p["dt"])), 1)
    reg = ISRegistry(box, p["energy_tol"], p["position_tol"])
    exit_params = {k: p[k] for k in ("exit_energy", "exit_distance", "exit_harmonic")}
    if exit_params["exit_energy"] == EXPLORE_DEFAULTS["exit_energy"]:
        exit_params["exit_energy"] = LJ_EXIT_ENERGY
    seq = []
    n_unconverged = n_early = n_fire_steps = n_refine_steps = 0
    t = 0.0
    for _ in range(n_steps // every):
        dyn.md(x, v, p["dt"], every)
        xm, res = dyn.fire(x, ftol=p["ftol"], known=reg.known() if p["early_exit"] else None, **exit_params)
        n_fire_steps += res.n_steps
        t += every * p["dt"]
        if res.known >= 0:  # certified to end in a known IS: the same record
            reg.visits[res.known] += 1
            seq.append(res.known)
            n_early += 1
            continue
        if not res.max_force < p["ftol"] * 10:
            n_unconverged += 1
            seq.append(-1)
            continue
        etot = res.energy
        if reg.find(etot / n, wrap(xm, box)) < 0 and p["refine_ftol"] < p["ftol"]:
            xm, res = dyn.fire(xm, ftol=p["refine_ftol"])
            etot = res.energy
            n_refine_steps += res.n_steps
        seq.append(reg.add(etot / n, wrap(xm, box), t, traj))
    return _trajectory_record(reg, seq, n, n_unconverged, n_early, n_fire_steps, n_refine_steps)
