"""Landscape exploration: NVE trajectories at T = 0.04 quenched every tau_quench to inherent structures.

Each trajectory starts from the glass with fresh Maxwell velocities (seeded by glass seed and trajectory
index), runs NVE velocity Verlet, and every ``tau_quench`` minimises a copy of the configuration (FIRE to
``ftol``).  A residual force F leaves an energy error ~ F^2 / k and a position error ~ F / k (k the softest
stiffness, ~1e-2): with ftol = 1e-6 that is far below energy_tol and position_tol, and a third fewer FIRE
steps than 1e-9.  Each IS seen for the first time is minimised on to ``refine_ftol`` before it is stored,
so the store holds accurate minima.  A quench stops early when it is certainly ending in an IS already
found (``early_exit``; the test and its thresholds are in :mod:`tlspipe.engine.minimise`): most quenches
land again in the IS just left, and the last two thirds of a descent only converge onto it.  The record
(sequence, distinct IS, transitions) is the same as with full quenches; ``benchmarks/explore.py`` checks
it on thousands of quenches and ``tests/test_explore.py`` on a small exploration.  Two quenches reached the same IS when their energies per particle agree within
``energy_tol`` and their positions within ``position_tol`` (largest minimum-image displacement of any
particle).  T_ab counts consecutive quenches a -> b (a != b) within a trajectory.

Quenches in lanes (``lanes`` >= 2, the default, native engine): the MD of a trajectory runs ahead and its
consecutive snapshots descend together, ``lanes`` at a time in SIMD lanes over one shared neighbour list
(:class:`tlspipe.engine.lanes.LaneFIRE`), each with its own FIRE state, a finished lane refilled with the next
snapshot; the results are taken in snapshot order, so the registry, the sequence and the refinement of new IS
proceed exactly as with one quench at a time.  A new IS is refined in a lane too (the FIRE of ``fire_minimise``
from the quench's end, started as soon as that end matches neither the registry nor an earlier end; a snapshot is
taken only once its refinement is back, and a refinement found unneeded by then is dropped).  A lane's descent is the FIRE of :mod:`tlspipe.engine.minimise`
step for step; its forces are summed over pairs in a canonical order, so they differ from the single path's
by rounding only, and a snapshot on a basin boundary may then end in the neighbouring IS
(``benchmarks/explore.py`` counts how often: the quench agreement).  The canonical order makes a lane's
descent independent of its lane companions and of the lane width, so a trajectory's quench ends are a
deterministic function of the glass, the seed, its index and the parameters.  The early stop in lanes may stop
a descent where the finished descent of any earlier snapshot of the trajectory ended, taken into the registry
or not yet (the snapshots of all lanes descend at once, and at Tf = 0.092 a new IS turns up every ~7 quenches,
so the registry alone would come too late); the record is that of descents run to their ends.
``lane_precision: mixed`` (opt-in) descends in float32 lanes until max_i |F_i| < ``lane_switch_force`` and ends
each descent in float64 (:class:`tlspipe.engine.lanes.MixedLaneFIRE`); it rounds differently again, so it is part
of the checkpoints' parameter key.

Trajectories are independent: each is written to its own checkpoint (``traj_XXXX.npz``, atomic), so a
killed run resumes where it stopped and trajectories run in parallel processes.  The merge step
identifies IS across trajectories and writes the HDF5 store atomically.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .. import engine
from .defaults import EXPLORE_DEFAULTS, TAU_QUENCH_BY_TF
from ..store.isstore import ISStore, write_store
from ..util.io import atomic_path
from ..util.periodic import minimum_image, wrap

log = logging.getLogger("tlspipe.explore")




# options that change the cost of a trajectory, not its result (the early stop gives the same record; the
# lane width neither, only whether lanes are used, which _params_key records)
RESULT_NEUTRAL = ("early_exit", "exit_energy", "exit_distance", "exit_harmonic", "lanes")
LANE_PRECISIONS = ("float64", "mixed")


def lane_precision(p: dict) -> str:
    v = p.get("lane_precision", "float64")
    if v not in LANE_PRECISIONS:
        raise ValueError(f"explore.lane_precision must be one of {list(LANE_PRECISIONS)}, got {v!r}")
    return v


def uses_lanes(p: dict) -> bool:
    return p["engine"] == "native" and int(p.get("lanes") or 0) >= 2


def default_tau_quench(tf: float) -> float:
    t = sorted(TAU_QUENCH_BY_TF)
    return float(np.interp(tf, t, [TAU_QUENCH_BY_TF[k] for k in t]))


def same_is_index(energies, positions, e, x, box, energy_tol, position_tol) -> int:
    """The first k whose energy per particle energies[k] is within energy_tol of e and whose positions[k] are
    within position_tol of x (largest minimum-image displacement), or -1: "the same IS"."""
    for k in np.flatnonzero(np.abs(energies - e) <= energy_tol):
        if min_image_max_disp(positions[k], x, box) <= position_tol:
            return int(k)
    return -1


def min_image_max_disp(a, b, box) -> float:
    """Largest particle displacement between two configurations (the IS identity test against position_tol),
    minimum image, their global translation removed: a minimum and its rigidly translated copy are one IS."""
    from ..util.periodic import without_translation

    d = without_translation(minimum_image(a - b, box), box)
    return float(np.sqrt((d * d).sum(1)).max())


class ISRegistry:
    """Distinct IS, looked up by energy then positions.

    Positions are kept in one growing (capacity, N, 3) array, so that a descent can be handed all known IS
    without copying them (``known``)."""

    def __init__(self, box, energy_tol, position_tol):
        self.box = np.asarray(box)
        self.energy_tol = energy_tol
        self.position_tol = position_tol
        self.energies: list[float] = []
        self._pos = None
        self._etot = np.zeros(0)
        self.first_seen: list[float] = []
        self.first_traj: list[int] = []
        self.visits: list[int] = []

    @property
    def positions(self) -> np.ndarray:
        n = len(self.energies)
        return self._pos[:n] if self._pos is not None else np.zeros((0, 0, 3))

    def known(self):
        """(positions (M, N, 3), total energies (M,), count) of the IS found so far, for fire_minimise's
        ``known`` (None while there are none)."""
        return (self._pos, self._etot, len(self.energies)) if self.energies else None

    def find(self, e, x) -> int:
        if not self.energies:
            return -1
        return same_is_index(np.asarray(self.energies), self._pos, e, x, self.box, self.energy_tol,
                             self.position_tol)

    def add(self, e, x, t, traj, visits=1) -> int:
        k = self.find(e, x)
        if k >= 0:
            self.visits[k] += visits
            return k
        x = np.asarray(x, np.float64)
        k = len(self.energies)
        if self._pos is None or k == len(self._pos):
            grown = np.empty((max(2 * k, 16),) + x.shape)
            etot = np.empty(len(grown))
            if k:
                grown[:k] = self._pos[:k]
                etot[:k] = self._etot[:k]
            self._pos, self._etot = grown, etot
        self._pos[k] = x
        self._etot[k] = float(e) * len(x)  # total energy, what a descent compares
        self.energies.append(float(e))
        self.first_seen.append(t)
        self.first_traj.append(traj)
        self.visits.append(visits)
        return k


def run_trajectory(x0, diam, box, traj: int, seed: int, params: dict) -> dict:
    """One trajectory.  Returns the IS it found (local ids) and the sequence of visited local ids."""
    p = {**EXPLORE_DEFAULTS, **params}
    n = len(diam)
    box = engine.as_box(box)
    rng = np.random.default_rng([seed, traj])
    v = engine.maxwell_velocities(n, p["T"], rng)
    n_steps = int(round(p["traj_time"] / p["dt"]))
    every = max(int(round(p["tau_quench"] / p["dt"])), 1)
    reg = ISRegistry(box, p["energy_tol"], p["position_tol"])
    seq = []
    n_unconverged = 0
    n_early = 0
    n_fire_steps = n_refine_steps = 0  # descent steps of the quenches, and of the refinement of new IS
    exit_params = {k: p[k] for k in ("exit_energy", "exit_distance", "exit_harmonic")}
    if p.get("model_lines") and p["engine"] == "native":  # native-lj: tlspipe.sample.model_explore
        from .model_explore import run_trajectory_model

        return run_trajectory_model(x0, box, traj, seed, p)
    if uses_lanes(p):
        return _run_trajectory_lanes(x0, diam, box, traj, seed, p)
    if p["engine"] == "lammps":
        from ..engine.lammps import LammpsEngine
        from ..models import lammps_engine_kwargs

        kw = lammps_engine_kwargs(p.get("model_lines"))  # the model's own lines ({} for the soft spheres)
        lmp = LammpsEngine(diam, box, **kw)
        if kw:  # per-particle masses: velocities at temperature T, in the model's LAMMPS units
            from ..models import velocity_scale

            v = v * velocity_scale(kw["model"].units) / np.sqrt(kw["masses"])[:, None]
        x = np.array(x0, float)
        quench = lambda y: lmp.minimise(y, ftol=p["ftol"])  # noqa: E731
    else:
        sim = engine.MD(x0, v, diam, box)
        nl = None
    t = 0.0
    for k in range(n_steps // every):
        if p["engine"] == "lammps":
            x, v = lmp.run_nve(x, v, p["dt"], every)
            xm, etot, fmax = quench(x)
        else:
            sim.run(every, dt=p["dt"])
            xm, res = engine.fire_minimise(sim.x, diam, box, ftol=p["ftol"], nlist=nl,
                                           known=reg.known() if p["early_exit"] else None, **exit_params)
            etot, fmax = res.energy, res.max_force
            n_fire_steps += res.n_steps
        t += every * p["dt"]
        if p["engine"] != "lammps" and res.known >= 0:  # certified to end in a known IS: the same record
            reg.visits[res.known] += 1
            seq.append(res.known)
            n_early += 1
            continue
        if not fmax < p["ftol"] * 10:
            n_unconverged += 1
            seq.append(-1)  # breaks the chain of consecutive quenches
            continue
        k_is = reg.find(etot / n, wrap(xm, box))
        if k_is < 0 and p["refine_ftol"] < p["ftol"]:
            if p["engine"] == "lammps":
                xm, etot, _ = lmp.minimise(xm, ftol=p["refine_ftol"])
            else:
                xm, res = engine.fire_minimise(xm, diam, box, ftol=p["refine_ftol"])
                etot = res.energy
                n_refine_steps += res.n_steps
        seq.append(reg.add(etot / n, wrap(xm, box), t, traj))
    if p["engine"] == "lammps":
        lmp.close()
    return _trajectory_record(reg, seq, n, n_unconverged, n_early, n_fire_steps, n_refine_steps)


def _trajectory_record(reg, seq, n, n_unconverged, n_early, n_fire_steps, n_refine_steps) -> dict:
    """What a trajectory's checkpoint holds."""
    return {
        "energies": np.asarray(reg.energies),
        "positions": np.asarray(reg.positions).reshape(-1, n, 3),
        "first_seen": np.asarray(reg.first_seen),
        "visits": np.asarray(reg.visits, np.int64),
        "sequence": np.asarray(seq, np.int64),
        "n_unconverged": n_unconverged,
        "n_early_exit": n_early,
        "n_fire_steps": n_fire_steps,
        "n_refine_steps": n_refine_steps,
    }


class _QuenchEnds:
    """The ends of the trajectory's finished descents (those that converged and did not stop early), in one
    growing buffer handed to the lanes' early stop: the descent of snapshot k may stop as soon as it is
    certainly ending where the descent of an earlier snapshot q < k ended, whether or not q has been taken into
    the registry yet (then k is given q's IS, which q took first)."""

    def __init__(self, n: int):
        self.pos = np.zeros((64, n, 3))
        self.etot = np.zeros(64)
        self.quench = np.zeros(64, np.int64)
        self.count = 0

    def add(self, x, etot: float, q: int):
        if self.count == len(self.etot):
            c = 2 * self.count
            pos, etot_, quench = np.empty((c,) + self.pos.shape[1:]), np.empty(c), np.empty(c, np.int64)
            pos[: self.count], etot_[: self.count], quench[: self.count] = self.pos, self.etot, self.quench
            self.pos, self.etot, self.quench = pos, etot_, quench
        self.pos[self.count] = x
        self.etot[self.count] = etot
        self.quench[self.count] = q
        self.count += 1

    def known(self):
        return (self.pos, self.etot, self.count, self.quench) if self.count else None


def _run_trajectory_lanes(x0, diam, box, traj: int, seed: int, p: dict) -> dict:
    """run_trajectory with the quenches in lanes (module docstring); the same record structure.

    The early stop: the descent of snapshot k stops when it is certainly ending where the finished descent of
    an earlier snapshot q < k ended (:class:`_QuenchEnds`), and k is then given q's IS: the record of descents
    run to their ends, bit for bit (the registry holds the same IS, refined from the same descents)."""
    from ..engine.lanes import LaneFIRE

    n = len(diam)
    rng = np.random.default_rng([seed, traj])
    v = engine.maxwell_velocities(n, p["T"], rng)
    n_steps = int(round(p["traj_time"] / p["dt"]))
    every = max(int(round(p["tau_quench"] / p["dt"])), 1)
    n_q = n_steps // every
    reg = ISRegistry(box, p["energy_tol"], p["position_tol"])
    sim = engine.MD(x0, v, diam, box)
    exit_params = {k: p[k] for k in ("exit_energy", "exit_distance", "exit_harmonic")}
    if lane_precision(p) == "mixed":
        from ..engine.lanes import MixedLaneFIRE

        fire = MixedLaneFIRE(diam, box, width=min(int(p["lanes"]), max(n_q, 1)), ftol=p["ftol"],
                             switch_force=float(p.get("lane_switch_force", 1e-2)), **exit_params)
    else:
        fire = LaneFIRE(diam, box, width=min(int(p["lanes"]), max(n_q, 1)), ftol=p["ftol"], **exit_params)
    ends = _QuenchEnds(n)
    seq = []
    is_of = np.full(n_q, -1, np.int64)  # the IS each taken snapshot ended in
    n_unconverged = n_early = n_fire_steps = n_refine_steps = 0
    done: dict[int, tuple] = {}
    # refinement of new IS in lanes (float64 lanes): a converged end that matches neither the registry nor an
    # earlier end is refined at once in a lane of its own (order -1: no early stop), as fire_minimise would
    # refine it when the snapshot is taken; an end found by then needs no refinement and its result is dropped
    refine_in_lanes = lane_precision(p) != "mixed" and p["refine_ftol"] < p["ftol"]
    refining: set[int] = set()
    refined: dict[int, tuple] = {}
    pending: list[tuple] = []
    made = taken = 0
    t = 0.0
    while taken < n_q:
        for lane in fire.free_lanes():
            if pending:
                q, xq = pending.pop()
                fire.start(lane, xq, tag=("refine", q), order=-1, ftol=p["refine_ftol"])
                continue
            if made == n_q:
                break
            sim.run(every, dt=p["dt"])
            fire.start(lane, sim.x, tag=made, order=made)
            made += 1
        for _, q, xm, etot, fmax, steps, hit in fire.step(ends.known() if p["early_exit"] else None):
            if isinstance(q, tuple):  # a refinement
                refining.discard(q[1])
                refined[q[1]] = (xm, etot, steps)
                continue
            hit = int(ends.quench[hit]) if hit >= 0 else -1  # the descent whose end it stopped at
            done[q] = (xm, etot, fmax, steps, hit)
            if hit < 0 and fmax < p["ftol"] * 10:
                if refine_in_lanes and not _end_known(reg, ends, etot / n, xm, box):
                    refining.add(q)
                    pending.append((q, xm))
                ends.add(xm, etot, q)
        while taken in done and taken not in refining:  # in snapshot order, as the one-at-a-time loop
            k = taken
            xm, etot, fmax, steps, hit = done.pop(k)
            taken += 1
            n_fire_steps += steps
            t += every * p["dt"]
            if hit >= 0:  # certainly ending in the IS the earlier snapshot `hit` ended in
                reg.visits[is_of[hit]] += 1
                seq.append(int(is_of[hit]))
                is_of[k] = is_of[hit]
                n_early += 1
                continue
            if not fmax < p["ftol"] * 10:
                n_unconverged += 1
                seq.append(-1)
                continue
            k_is = reg.find(etot / n, wrap(xm, box))
            mine = refined.pop(k, None)
            if mine is not None:
                n_refine_steps += mine[2]  # counted even when not needed: what the lanes spent
            if k_is < 0 and p["refine_ftol"] < p["ftol"]:
                if mine is not None:
                    xm, etot = mine[0], mine[1]
                else:
                    xm, res = engine.fire_minimise(xm, diam, box, ftol=p["refine_ftol"])
                    etot = res.energy
                    n_refine_steps += res.n_steps
            is_of[k] = reg.add(etot / n, wrap(xm, box), t, traj)
            seq.append(int(is_of[k]))
    return _trajectory_record(reg, seq, n, n_unconverged, n_early, n_fire_steps, n_refine_steps)


def _end_known(reg, ends, e_per_particle: float, x, box) -> bool:
    """A descent's end is an IS already in the registry, or the end of an earlier finished descent (which is
    refined, or found, before this one is taken)."""
    if reg.find(e_per_particle, wrap(x, box)) >= 0:
        return True
    c = ends.count
    return c > 0 and same_is_index(ends.etot[:c] / len(x), ends.pos, e_per_particle, x, box, reg.energy_tol,
                                   reg.position_tol) >= 0


def _checkpoint_path(ckpt_dir: Path, traj: int) -> Path:
    return ckpt_dir / f"traj_{traj:04d}.npz"


def _params_key(x0, diam, box, seed: int, params: dict) -> str:
    """What a trajectory's result depends on: a checkpoint made with anything else is not reused."""
    import hashlib
    import json

    h = hashlib.sha256()
    for a in (x0, diam, box):
        h.update(np.ascontiguousarray(a, np.float64).tobytes())
    keys = {k: params[k] for k in sorted(params) if k != "n_traj" and k not in RESULT_NEUTRAL
            and k not in ("lane_precision", "lane_switch_force")}
    if uses_lanes(params):  # quenches in lanes round differently from one at a time (not the width)
        keys["quenches_in_lanes"] = True
        if lane_precision(params) != "mixed":  # new IS refined in lanes too (rounding of the stored IS)
            keys["refined_in_lanes"] = True
        if lane_precision(params) == "mixed":  # (the default adds nothing: older checkpoints stay valid)
            keys["lane_precision"] = "mixed"
            keys["lane_switch_force"] = float(params.get("lane_switch_force", 1e-2))
    h.update(json.dumps({"seed": seed, **keys}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _run_and_save(args):
    x0, diam, box, traj, seed, params, ckpt_dir = args
    t0 = time.perf_counter()
    out = run_trajectory(x0, diam, box, traj, seed, params)
    out["seconds"] = time.perf_counter() - t0
    out["key"] = np.array(_params_key(x0, diam, box, seed, params))
    path = _checkpoint_path(Path(ckpt_dir), traj)
    with atomic_path(path, ".tmp.npz") as tmp:
        np.savez(tmp, **out)
    return traj, len(out["energies"]), out["seconds"]


#: what merge_trajectories and the summary read from a checkpoint
_CHECKPOINT_ARRAYS = ("energies", "positions", "first_seen", "visits", "sequence", "n_unconverged", "seconds")


def _checkpoint_damage(out: dict) -> str | None:
    """None when a checkpoint holds a whole trajectory record, else what is missing or inconsistent."""
    missing = [k for k in _CHECKPOINT_ARRAYS if k not in out]
    if missing:
        return f"lacks {missing}"
    n = len(out["energies"])
    if not (len(out["positions"]) == len(out["first_seen"]) == len(out["visits"]) == n):
        return "holds arrays of different lengths"
    if len(out["sequence"]) and not (-1 <= out["sequence"].min() and out["sequence"].max() < n):
        return "has a sequence naming IS it does not hold"
    return None


def _load_checkpoint(path: Path, key: str | None = None) -> dict | None:
    """The record of a finished trajectory, or None (and the file removed, so that the trajectory is rerun)
    when the file does not read back whole: a truncated or changed file fails the zip CRC, a damaged zip
    directory that hides members fails :func:`_checkpoint_damage`."""
    try:
        with np.load(path) as z:
            out = {k: z[k] for k in z.files}
        why = _checkpoint_damage(out)
    except Exception as e:  # a truncated checkpoint is redone, not trusted
        why = f"is unreadable ({e})"
    if why is not None:
        log.warning("checkpoint %s %s: the trajectory will be rerun", path, why)
        path.unlink(missing_ok=True)
        return None
    if key is not None and str(out.get("key", "")) != key:
        log.warning("checkpoint %s was made from another glass or other exploration parameters: "
                    "the trajectory will be rerun", path)
        path.unlink(missing_ok=True)
        return None
    return out


def merge_trajectories(results: list[dict], diam, box, energy_tol, position_tol) -> ISStore:
    """Identify IS across trajectories and count transitions between consecutive quenches."""
    reg = ISRegistry(box, energy_tol, position_tol)
    trans: dict[tuple[int, int], int] = {}
    for traj, r in enumerate(results):
        local_to_global = np.empty(len(r["energies"]), np.int64)
        for k in range(len(r["energies"])):
            local_to_global[k] = reg.add(r["energies"][k], r["positions"][k], float(r["first_seen"][k]), traj,
                                         int(r["visits"][k]))
        prev = -1
        for s in r["sequence"]:
            g = int(local_to_global[s]) if s >= 0 else -1
            if prev >= 0 and g >= 0 and g != prev:
                trans[(prev, g)] = trans.get((prev, g), 0) + 1
            prev = g
    keys = sorted(trans)
    n = len(diam)
    return ISStore(
        diameters=diam, box=box,
        positions=np.asarray(reg.positions).reshape(-1, n, 3),
        energy=np.asarray(reg.energies),
        first_seen=np.asarray(reg.first_seen), first_traj=np.asarray(reg.first_traj, np.int64),
        visits=np.asarray(reg.visits, np.int64),
        trans_src=np.asarray([k[0] for k in keys], np.int64),
        trans_dst=np.asarray([k[1] for k in keys], np.int64),
        trans_count=np.asarray([trans[k] for k in keys], np.int64),
    )


def explore_glass(x0, diam, box, out_path, checkpoint_dir, seed: int, tf: float | None = None,
                  workers: int = 1, glass: str | None = None, progress=None, system=None, **params) -> dict:
    """Run (or resume) the exploration of one glass and write its IS store atomically.  Returns a summary."""
    p = dict(EXPLORE_DEFAULTS)
    unknown = set(params) - set(p)
    if unknown:
        raise ValueError(f"unknown exploration parameters {sorted(unknown)}; known: {sorted(p)}")
    p.update({k: v for k, v in params.items() if v is not None})
    if p["tau_quench"] is None:
        if tf is None:
            raise ValueError("give tau_quench or the glass's Tf (for the per-Tf default)")
        p["tau_quench"] = default_tau_quench(tf)
    if p["engine"] not in ("native", "lammps"):
        raise ValueError(f"engine must be 'native' or 'lammps', got {p['engine']!r}")
    for key in ("dt", "traj_time", "tau_quench"):
        if not (np.isfinite(p[key]) and p[key] > 0):
            raise ValueError(f"explore.{key} must be a positive number, got {p[key]!r}")
    if p["traj_time"] < p["tau_quench"]:
        raise ValueError(f"explore.traj_time ({p['traj_time']}) is shorter than one quench period tau_quench "
                         f"({p['tau_quench']}): the trajectory would record no IS; lengthen traj_time")
    from ..models import explore_model_params

    p.update(explore_model_params(system))  # a model other than the soft spheres: its lines, types, masses
    box = engine.as_box(box)
    diam = np.asarray(diam, np.float64)
    x0 = np.asarray(x0, np.float64)
    engine.check_system(x0, diam, box)
    ckpt = Path(checkpoint_dir)
    ckpt.mkdir(parents=True, exist_ok=True)
    key = _params_key(x0, diam, box, seed, p)
    todo = []
    for traj in range(p["n_traj"]):
        path = _checkpoint_path(ckpt, traj)
        if not (path.exists() and _load_checkpoint(path, key) is not None):
            todo.append(traj)
    log.info("exploration: %d of %d trajectories to run (%d from checkpoints)", len(todo), p["n_traj"],
             p["n_traj"] - len(todo))
    t0 = time.perf_counter()
    jobs = [(x0, diam, box, traj, seed, p, str(ckpt)) for traj in todo]
    done = 0
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for traj, n_is, sec in ex.map(_run_and_save, jobs):
                done += 1
                log.info("trajectory %d: %d IS in %.1f s", traj, n_is, sec)
                if progress:
                    progress(done, len(jobs))
    else:
        for job in jobs:
            traj, n_is, sec = _run_and_save(job)
            done += 1
            log.info("trajectory %d: %d IS in %.1f s", traj, n_is, sec)
            if progress:
                progress(done, len(jobs))
    results = [_load_checkpoint(_checkpoint_path(ckpt, t), key) for t in range(p["n_traj"])]
    if any(r is None for r in results):
        raise RuntimeError(f"{ckpt}: a trajectory checkpoint could not be read after running; rerun")
    store = merge_trajectories(results, diam, box, p["energy_tol"], p["position_tol"])
    cpu_seconds = float(sum(float(r["seconds"]) for r in results))
    n_quench = sum(len(r["sequence"]) for r in results)
    from ..models import explore_store_attrs

    store.types, store.masses = (None, None) if system is None else (system.types, system.masses)
    store.attrs.update(explore_store_attrs(system))
    write_store(out_path, store, glass=glass or "", tf=tf if tf is not None else np.nan, seed=seed,
                transitions_observed=True, energy_tol=p["energy_tol"], position_tol=p["position_tol"],
                tau_quench=p["tau_quench"], T=p["T"], dt=p["dt"], n_traj=p["n_traj"], traj_time=p["traj_time"],
                ftol=p["ftol"], refine_ftol=p["refine_ftol"], engine=p["engine"], cpu_seconds=cpu_seconds,
                early_exit=int(bool(p["early_exit"]) and p["engine"] == "native"))  # LAMMPS runs every quench whole
    return {
        "n_is": store.n_is,
        "n_quenches": int(n_quench),
        "n_unconverged": int(sum(int(r["n_unconverged"]) for r in results)),
        "n_transitions": int(store.trans_count.sum()),
        "n_early_exit": int(sum(int(r.get("n_early_exit", 0)) for r in results)),
        "cpu_seconds": cpu_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "is_per_cpu_minute": store.n_is / max(cpu_seconds / 60, 1e-9),
    }
