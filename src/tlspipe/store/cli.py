"""Commands ``tlspipe inspect`` and ``tlspipe import-lammps``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .. import model


MODEL_HELP = ("model file (YAML: the model's LAMMPS lines pair_style, pair_coeff, pair_modify, mass; default: the "
              "built-in polydisperse soft spheres)")


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def inspect_file(path, engine: str = "native", glass_model=None) -> dict:
    """What a file holds, as a JSON-ready dict.  The kind is decided by content: a file with the HDF5
    signature is read as an IS store, anything else as a LAMMPS data file.

    IS store: kind='is_store', its summary (n_particles, box_length, n_is, energy_per_particle_min/max,
    n_transitions, n_transition_pairs, transitions_observed), glass, content_sha256 and checksums
    ('verified', or 'none: ...' for a store of format_version 1); a store whose bytes changed after it
    was written is a StoreError naming the file and dataset.
    LAMMPS data: kind='lammps_data', atom_style, n_particles, box_length (a number for a cube, else the
    three edges), density, mean_diameter, energy_per_particle (epsilon) and max_force (max_i |F_i|,
    epsilon/sigma) computed by ``engine`` ('native', 'lammps' or 'auto'), and energy_per_particle_in_name when
    the file name starts with a number.  ``glass_model``: the model (a model file or Model; None: the soft
    spheres): a data file must fit it (tlspipe.models.system_from_data), a store must hold it; the output
    names the model and the backend that ran ('backend': native-soft-sphere, native-lj or lammps).
    """
    from ..models import check_store_model, resolve_model, system_from_data

    m = resolve_model(glass_model)
    from .importer import is_hdf5

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if is_hdf5(path):
        from .isstore import content_hash, read_store

        st = read_store(path, positions=False)
        out = {"file": str(path), "kind": "is_store"}
        out.update(st.summary())
        out["glass"] = st.attrs.get("glass")
        out["content_sha256"] = content_hash(path)  # reads every IS through its checksums
        out["checksums"] = ("verified" if "content_sha256" in st.attrs else
                            "none: a store written before stores carried checksums (format_version 1), read "
                            "unchecked; rebuild it to add them")
        from ..models import store_model

        sm = check_store_model(st.attrs, m, path) if glass_model is not None else store_model(st.attrs, str(path))
        out["model"] = {"name": sm.name, "sha256": sm.sha256, "lines": sm.lammps_commands()}
        return _jsonable(out)

    from .lammps import energy_from_filename, read_lammps_data

    data = read_lammps_data(path)
    x = data.wrapped()
    if engine not in ("native", "lammps", "auto"):
        raise ValueError(f"unknown engine {engine!r}; use 'native', 'lammps' or 'auto'")
    from ..engine.backend import make_backend

    system = system_from_data(data, m)
    with make_backend(system, engine) as be:
        e, f = be.energy_forces(x)
        backend = be.name
    n = data.n_particles
    box = data.box
    out = {
        "file": str(path),
        "kind": "lammps_data",
        "atom_style": data.atom_style,
        "n_particles": n,
        "box_length": float(box[0]) if np.all(box == box[0]) else box.tolist(),
        "density": data.density,
        "mean_diameter": float(data.diameters.mean()),
        "energy_per_particle": e / n,
        "max_force": float(np.sqrt((f * f).sum(1)).max()),
        "engine": engine,
        "backend": backend,
        "model": m.name,
        "model_sha256": m.sha256,
        "n_types": int(data.types.max()),
    }
    e_name = energy_from_filename(path)
    if e_name is not None:
        out["energy_per_particle_in_name"] = e_name
    return _jsonable(out)


def _cmd_inspect(args) -> int:
    try:
        info = inspect_file(args.file, engine=args.engine, glass_model=args.model)
    except ImportError as e:  # --engine lammps without a usable LAMMPS
        raise ValueError(str(e)) from e
    print(json.dumps(info, indent=None if args.compact else 2))
    return 0


def _cmd_import(args) -> int:
    from .importer import import_lammps_dir

    density = args.density if args.density is not None else None if args.model else model.DENSITY
    summary = import_lammps_dir(
        args.dir, args.out, ftol=args.ftol, reminimise=args.reminimise, glass=args.glass, pattern=args.pattern,
        expected_density=density, progress=sys.stderr.isatty(), glass_model=args.model, engine=args.engine,
    )
    brief = {k: summary[k] for k in ("out", "glass", "n_files", "n_is", "duplicates", "reminimised", "rejected",
                                     "model", "backend")}
    e = summary["energy_per_particle"]
    brief["energy_per_particle_min"] = min(e)
    brief["energy_per_particle_max"] = max(e)
    print(json.dumps(_jsonable(brief), indent=2))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect", help="describe a LAMMPS data file or an IS store (JSON on stdout)",
        description="Print one JSON object describing FILE: for a LAMMPS data file its size, box, mean diameter, "
                    "energy per particle (epsilon) and largest force; for an IS store (HDF5) the number of IS, "
                    "their energy range and the observed transitions.",
    )
    p.add_argument("file", help="LAMMPS data file (atom_style atomic, charge or sphere) or is.h5 store")
    p.add_argument("--engine", choices=["auto", "native", "lammps"], default="auto",
                   help="engine that computes energy and forces of a LAMMPS file (default auto: native when it "
                        "implements the model, else LAMMPS)")
    p.add_argument("--model", default=None, metavar="MODEL.yaml", help=MODEL_HELP)
    p.add_argument("--compact", action="store_true", help="print the JSON on one line")
    p.set_defaults(func=_cmd_inspect)

    q = subparsers.add_parser(
        "import-lammps", help="build an IS store from a directory of LAMMPS data files of one glass",
        description="Read every LAMMPS data file of DIR (one glass), recompute energies, check the energy in "
                    "the file name, re-minimise or reject structures that are not minima, merge duplicates, "
                    "and write an IS store (HDF5) without transitions.",
    )
    q.add_argument("dir", help="directory holding the inherent structures of one glass")
    q.add_argument("--out", required=True, help="IS store to write (e.g. is.h5)")
    q.add_argument("--ftol", type=float, default=1e-4,
                   help="max_i |F_i| (epsilon/sigma) above which a file is not a minimum (default 1e-4)")
    q.add_argument("--reminimise", action=argparse.BooleanOptionalAction, default=True,
                   help="re-minimise structures that are not minima (default) or reject them (--no-reminimise)")
    q.add_argument("--glass", default=None, help="glass name stored in the file (default: the directory name)")
    q.add_argument("--pattern", default="*", help="glob selecting the data files in DIR (default: every file)")
    q.add_argument("--density", type=float, default=None,
                   help=f"number density every box must hold (default {model.DENSITY}, the soft spheres', when no "
                        "--model is given; with --model, no check unless given); a file at another density is an "
                        "error")
    q.add_argument("--model", default=None, metavar="MODEL.yaml", help=MODEL_HELP)
    q.add_argument("--engine", choices=["auto", "native", "lammps"], default="auto",
                   help="engine for energies, forces and re-minimisation (default auto)")
    q.set_defaults(func=_cmd_import)
