"""``tlspipe prepare`` and ``tlspipe explore``, and the config-driven entry points the workflow calls."""

from __future__ import annotations

import json
import logging

from .. import model
from .defaults import COOLING_DEFAULTS, EXPLORE_DEFAULTS, N_PARTICLES, PREPARE_DEFAULTS

log = logging.getLogger("tlspipe")


def run_prepare(n_particles: int, glass: dict, params: dict, out_data, out_meta, log_path=None) -> dict:
    """Make one glass of a study (glass: name, tf, seed; params: its prepare section, overrides applied)."""
    from ..workflow import LogProgress
    from .prepare import prepare_glass, write_glass

    if params.get("protocol") == "cooling":  # tlspipe.sample.cooling
        return _run_cooling(n_particles, glass, params, out_data, out_meta, log_path)
    if params.get("protocol") == "files":  # tlspipe.sample.glass_files
        return _run_files(n_particles, glass, params, out_data, out_meta)
    bar = LogProgress(params["n_blocks"], f"prepare {glass['glass']}", log_path)
    g = prepare_glass(n_particles, glass["tf"], glass["seed"], progress=bar, **params)
    bar.close()
    g.meta["glass"] = glass["glass"]
    write_glass(g, out_data, out_meta)
    m = g.meta
    log.info("glass %s: swap acceptance %.3f, IS energy per particle %.6f, equilibration %s",
             glass["glass"], m["swap_acceptance"], m["inherent_energy_per_particle"], m["equilibration"])
    return m


def _run_cooling(n_particles: int, glass: dict, params: dict, out_data, out_meta, log_path=None) -> dict:
    """A glass of the study's model by the MD cooling protocol (prepare.protocol cooling)."""
    from ..models import ModelError, resolve_model
    from ..workflow import LogProgress
    from .cooling import cool_glass, write_cooled_glass

    m = resolve_model(params.get("model"))
    if m.is_soft_sphere:
        raise ModelError("prepare.protocol cooling makes glasses of a native-lj model (config key 'model'); the soft "
                         "spheres are prepared by swap Monte Carlo (prepare.protocol swap)")
    bar = LogProgress(3, f"prepare {glass['glass']} (cooling)", log_path)
    try:
        g = cool_glass(m, n_particles, glass["tf"], glass["seed"], params["cooling"], T_explore=params.get("explore_T"),
                       progress=bar)
    except ValueError as e:
        raise ValueError(f"glass {glass['glass']}: {e}") from e
    bar.close()
    g["meta"]["glass"] = glass["glass"]
    write_cooled_glass(g, m, out_data, out_meta)
    log.info("glass %s (cooling): stages %s, IS energy per particle %.6f", glass["glass"],
             json.dumps(g["meta"]["stages"]), g["meta"]["inherent_energy_per_particle"])
    return g["meta"]


def _run_files(n_particles: int, glass: dict, params: dict, out_data, out_meta) -> dict:
    """A glass of the study from the user's LAMMPS data file (prepare.protocol files; tlspipe.workflow gives the
    job its ``file``, the study's ``model``, ``engine`` and the exploration's ``refine_ftol``)."""
    from ..models import resolve_model
    from .glass_files import import_glass_file, write_file_glass

    m = resolve_model(params.get("model"))
    try:
        g = import_glass_file(params["file"], m, n_particles=n_particles, engine=params.get("engine", "auto"),
                              ftol=params["ftol"], tf=glass["tf"], seed=glass["seed"])
    except ValueError as e:
        raise ValueError(f"glass {glass['glass']}: {e}") from e
    g["meta"]["glass"] = glass["glass"]
    write_file_glass(g, m, out_data, out_meta)
    gm = g["meta"]
    log.info("glass %s from %s: E/N %.6f, max|F| %.3g as read; %s; IS energy per particle %.6f (%s)", glass["glass"],
             gm["source"], gm["initial_energy_per_particle"], gm["initial_max_force"],
             f"quenched in {gm['quench_steps']} steps, largest displacement {gm['quench_max_displacement']:.3g}"
             if gm["quenched"] else "taken as is (already an IS)", gm["inherent_energy_per_particle"], gm["backend"])
    return gm


def explore_file(data_path, out_store, checkpoint_dir, density: float | None = model.DENSITY, glass_model=None,
                 **kw) -> dict:
    """explore_glass on the glass of a LAMMPS data file, whose box must hold ``density`` (None: no check);
    errors name the file.  ``glass_model``: a model file or Model (None: the soft spheres); the file must fit
    it.  Engine 'native' runs the soft spheres and models of the native Lennard-Jones family
    (tlspipe.sample.model_explore) and refuses any other model; engine 'lammps' runs the model's own lines."""
    from .. import engine
    from ..models import ModelError, resolve_model, system_from_data
    from ..store.lammps import read_lammps_data
    from .explore import explore_glass

    m = resolve_model(glass_model)
    system = system_from_data(read_lammps_data(data_path), m)  # another model's file: refused for that first
    g = read_lammps_data(data_path, expected_density=density)
    if not m.is_soft_sphere and (kw.get("engine") or EXPLORE_DEFAULTS["engine"]) != "lammps":
        from ..engine.backend import native_kind

        kind, why = native_kind(m, system.n_types)
        if kind is None:
            raise ModelError(f"explore {data_path}: the native exploration runs the soft spheres and the native "
                             f"Lennard-Jones family, and {m.describe()} is neither ({why}); use --engine lammps "
                             "(config engine: lammps), which runs the model's own lines")
    from ..models import LAMMPS_KB_MVV2E

    if m.units != "lj" and ((kw.get("engine") or EXPLORE_DEFAULTS["engine"]) != "lammps"
                            or m.units not in LAMMPS_KB_MVV2E):
        raise ModelError(f"explore {data_path}: {m.describe()} is in LAMMPS {m.units} units; the exploration runs "
                         f"such a model through LAMMPS (--engine lammps, config engine: lammps) in "
                         f"{' or '.join(u for u in LAMMPS_KB_MVV2E if u != 'lj')} units (T in kelvin, dt and "
                         "tau_quench in the units' time); other units are refused rather than run at a wrong "
                         "temperature; import minima made elsewhere (import-lammps)")
    try:
        return explore_glass(g.unwrapped(), g.diameters, g.box, out_store, checkpoint_dir,
                             system=None if m.is_soft_sphere else system, **kw)
    except engine.NonFiniteError as e:
        dt = kw.get("dt") or EXPLORE_DEFAULTS["dt"]
        raise ValueError(f"explore {data_path}: the dynamics blew up ({e}) with dt = {dt}; use a smaller dt "
                         f"(--dt, config explore.dt), or check {data_path} for overlapping particles "
                         "('tlspipe inspect' shows its largest force)") from e


def run_explore(glass: dict, params: dict, engine: str, data_path, out_store, checkpoint_dir, workers=1,
                log_path=None) -> dict:
    """Explore one glass (glass: name, tf, seed; params: its explore section, overrides applied, without
    ``workers``, which is the number of processes)."""
    from ..workflow import LogProgress

    p = {**params, "engine": engine}
    model_kw = {}
    if "glass_model" in p:  # a study of another model (tlspipe.workflow._model_slice)
        model_kw = {"glass_model": p.pop("glass_model"), "density": p.pop("density")}
    bar = LogProgress(p["n_traj"], f"explore {glass['glass']}", log_path)
    summary = explore_file(data_path, out_store, checkpoint_dir, seed=glass["seed"], tf=glass["tf"],
                           workers=workers, glass=glass["glass"], progress=bar, **model_kw, **p)
    bar.close()
    log.info("glass %s: %s", glass["glass"], json.dumps(summary))
    return summary


#: flags of ``tlspipe prepare --protocol cooling`` only (dt, gamma, cool_time, T_final are shared, meaning the
#: chosen protocol's keys)
_COOLING_ONLY = tuple(k for k in COOLING_DEFAULTS if k not in PREPARE_DEFAULTS)


def _prepare_cooling_cmd(a) -> int:
    """``tlspipe prepare --protocol cooling --model FILE``: one glass of a native-lj model by the MD cooling
    protocol (tlspipe.sample.cooling, the study's prepare.protocol cooling with the same keys)."""
    from ..models import ModelError, resolve_model
    from .cooling import cool_glass, write_cooled_glass

    unknown = [k for k in PREPARE_DEFAULTS if k not in COOLING_DEFAULTS and getattr(a, k, None) is not None]
    if unknown:
        raise ValueError(f"prepare --protocol cooling: --{unknown[0].replace('_', '-')} is a key of the swap "
                         "protocol; the cooling protocol takes --density, --composition, --start, "
                         "--equilibrate-time, --cool-time, --hold-time, --T-final, --dt, --gamma")
    m = resolve_model(a.model)
    if m.is_soft_sphere:
        raise ModelError("prepare --protocol cooling makes glasses of a native-lj model: give --model FILE (e.g. "
                         "config/models/kob-andersen.yaml); the soft spheres are prepared by swap Monte Carlo "
                         "(--protocol swap, the default)")
    params = {k: getattr(a, k) for k in COOLING_DEFAULTS if getattr(a, k, None) is not None}
    if params.get("T_final") is None:
        raise ValueError("prepare --protocol cooling: give --T-final, the temperature the ramp ends at (a study "
                         "takes the exploration's T)")
    g = cool_glass(m, a.n, a.tf, a.seed, params)
    data, meta = write_cooled_glass(g, m, a.out)
    gm = g["meta"]
    print(json.dumps({"data": str(data), "meta": str(meta), "protocol": "cooling", "model": m.name,
                      "stages": gm["stages"], "inherent_energy_per_particle": gm["inherent_energy_per_particle"],
                      "seconds": gm["seconds"]}))
    return 0


def _prepare_cmd(a) -> int:
    from .prepare import prepare_glass, write_glass

    if a.protocol == "cooling":
        return _prepare_cooling_cmd(a)
    given = [k for k in _COOLING_ONLY if getattr(a, k, None) is not None] + (["model"] if a.model else [])
    if given:
        raise ValueError(f"prepare --{given[0].replace('_', '-')}: a flag of --protocol cooling (a native-lj model's "
                         "MD cooling); the default protocol swap prepares the soft spheres")
    params = {k: getattr(a, k) for k in PREPARE_DEFAULTS if getattr(a, k, None) is not None}
    g = prepare_glass(a.n, a.tf, a.seed, **params)
    data, meta = write_glass(g, a.out)
    print(json.dumps({"data": str(data), "meta": str(meta), "swap_acceptance": g.meta["swap_acceptance"],
                      "inherent_energy_per_particle": g.meta["inherent_energy_per_particle"],
                      "equilibration": g.meta["equilibration"], "seconds": g.meta["seconds"]}))
    return 0


def check_flags(params: dict, section: str, command: str) -> None:
    """Flags of ``tlspipe <command>`` checked against the study config schema's ``section`` (the same bounds as
    a config file: --traj-time and --dt > 0, ...); a bad value is a ValueError naming the flag and the bound."""
    import jsonschema

    from ..workflow import load_schema

    props = load_schema()["properties"][section]["properties"]
    for key, value in params.items():
        if key not in props:
            continue
        err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(props[key]).iter_errors(value))
        if err is not None:
            raise ValueError(f"{command} --{key.replace('_', '-')} {value!r}: {err.message} "
                             f"({props[key].get('description') or section + '.' + key}); give a value within it")


def _explore_cmd(a) -> int:
    from pathlib import Path

    params = {k: getattr(a, k) for k in EXPLORE_DEFAULTS if getattr(a, k, None) is not None}
    check_flags(params, "explore", "explore")
    from .explore import default_tau_quench

    tau = params.get("tau_quench") or (default_tau_quench(a.tf) if a.tf is not None else None)
    traj_time = params.get("traj_time", EXPLORE_DEFAULTS["traj_time"])
    if tau is not None and traj_time < tau:
        raise ValueError(f"explore --traj-time {traj_time}: shorter than one quench period (tau_quench {tau}), so "
                         "no inherent structure would be found; give --traj-time >= --tau-quench")
    ckpt = a.checkpoints or str(Path(a.out).with_suffix("")) + "_ckpt"
    density = a.density if a.density is not None else None if a.model else model.DENSITY
    s = explore_file(a.glass, a.out, ckpt, density=density, seed=a.seed, tf=a.tf, workers=a.workers,
                     glass_model=a.model, **params)
    print(json.dumps(s))
    return 0


def register(sub):
    p = sub.add_parser("prepare", help="make one glass: swap-MC equilibration at Tf, cooling to T_final (or the MD "
                                       "cooling protocol of a native-lj model)",
                       description="Hybrid MD / swap Monte Carlo at Tf, then Berendsen cooling; writes a LAMMPS "
                                   "data file (atom_style charge, charge = diameter) and a JSON beside it.  "
                                   "--protocol cooling --model FILE: the MD cooling protocol of a native-lj model "
                                   "(Langevin NVT at Tf, a linear ramp to --T-final, a hold; the study's "
                                   "prepare.protocol cooling), written as atom_style atomic with the model's Masses.")
    p.add_argument("--n", type=int, default=N_PARTICLES, help=f"particles (swap: density 1; default {N_PARTICLES})")
    p.add_argument("--tf", type=float, required=True, help="preparation temperature (epsilon)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output LAMMPS data file")
    p.add_argument("--protocol", choices=("swap", "cooling"), default="swap",
                   help="swap (the soft spheres, default) or cooling (a native-lj model, --model)")
    p.add_argument("--model", default=None, metavar="MODEL.yaml", help="--protocol cooling: the model file")
    for k, v in PREPARE_DEFAULTS.items():
        extra = ("" if k not in COOLING_DEFAULTS else "; cooling: required" if COOLING_DEFAULTS[k] is None
                 else f"; cooling: default {COOLING_DEFAULTS[k]}")
        p.add_argument(f"--{k.replace('_', '-')}", dest=k, type=type(v), default=None, help=f"default {v}{extra}")
    for k in _COOLING_ONLY:
        v = COOLING_DEFAULTS[k]
        typ = ((lambda s: [float(t) for t in s.split(",")]) if k == "composition" else str if k == "start"
               else float)
        p.add_argument(f"--{k.replace('_', '-')}", dest=k, type=typ, default=None,
                       help=f"--protocol cooling ({'required' if v is None else f'default {v}'})"
                            + (": fractions per type, e.g. 0.8,0.2"
                                                                   if k == "composition" else ""))
    p.set_defaults(func=_prepare_cmd)

    e = sub.add_parser("explore", help="collect inherent structures of one glass into an HDF5 store",
                       description="NVE trajectories at T from fresh velocities, quenched every tau_quench; "
                                   "resumes from per-trajectory checkpoints.")
    e.add_argument("glass", help="LAMMPS data file of the glass")
    e.add_argument("--out", required=True, help="output is.h5")
    e.add_argument("--tf", type=float, default=None, help="Tf of the glass (for the default tau_quench)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--workers", type=int, default=1)
    e.add_argument("--density", type=float, default=None,
                   help=f"number density the glass's box must hold (default {model.DENSITY}, the soft spheres', "
                        "when no --model is given; with --model no check unless given); a box at another density "
                        "is an error")
    e.add_argument("--model", default=None, metavar="MODEL.yaml",
                   help="model file (the model's LAMMPS lines; default the built-in soft spheres); a model that "
                        "is not lj/cut needs --engine lammps")
    e.add_argument("--checkpoints", default=None, help="checkpoint directory (default OUT_ckpt)")
    for k, v in EXPLORE_DEFAULTS.items():
        typ = str if isinstance(v, str) else float if v is None or isinstance(v, float) else int
        e.add_argument(f"--{k.replace('_', '-')}", dest=k, type=typ, default=None, help=f"default {v}")
    e.set_defaults(func=_explore_cmd)
