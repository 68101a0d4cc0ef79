"""``tlspipe neb``: exact paths (NEB + 1D Schroedinger) for a table of IS pairs of one glass."""

from __future__ import annotations

import logging


def register(subparsers):
    from .batch import DEFAULTS

    p = subparsers.add_parser(
        "neb",
        help="NEB + Schroedinger splitting for pairs of inherent structures (resumable)",
        description="Minimum energy path, double-well test, quantum splitting E_qs, classical barrier and WKB "
                    "Delta0 for every pair (is_a, is_b) of PAIRS, IS taken from STORE.  Pairs already in OUT "
                    "are skipped, so a killed run continues where it stopped; an OUT made from another store, "
                    "glass label, option set or version is moved aside to OUT's name + .stale-K and recomputed.",
    )
    p.add_argument("store", help="IS store (HDF5) of one glass")
    p.add_argument("--pairs", required=True, help="CSV or Parquet with integer columns is_a, is_b")
    p.add_argument("--out", required=True, help="results (Parquet): glass, is_a, is_b, status, e_qs, ...")
    # default None: a flag overrides --config only when it is given (defaults < config file < flags)
    p.add_argument("--units", help=f"unit preset for hbar and kelvin: paper (the authors' E_qs scale), argon, nip "
                                       f"(default {DEFAULTS['units']})")
    p.add_argument("--images", type=int, help=f"images including both ends (default {DEFAULTS['images']})")
    p.add_argument("--tol", type=float, help=f"force tolerance (epsilon/sigma; default {DEFAULTS['tol']})")
    p.add_argument("--max-iter", type=int, help=f"(default {DEFAULTS['max_iter']})")
    p.add_argument("--no-climb", dest="climb", action="store_const", const=False, help="no climbing image")
    p.add_argument("--config", help="JSON file with options (keys of tlspipe.path.DEFAULTS); a flag given on "
                                    "the command line overrides the file")
    p.add_argument("--path-xyz", metavar="DIR", help="write each band as extended XYZ (for OVITO) into DIR")
    p.add_argument("--profiles", metavar="OUT.h5", help="keep the profiles V(xi) in this HDF5 file")
    p.add_argument("--glass", help="glass label (default: the store's 'glass' attribute, else the name of its folder)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--tls-threshold-kelvin", type=float, default=None, metavar="K",
                   help="with --model of another model than the soft spheres: a double well with E_qs below K "
                        "kelvin is a TLS (default 1 K)")
    p.add_argument("--model", default=None, metavar="MODEL.yaml",
                   help="model file of the store (default the built-in soft spheres); a store of another model is "
                        "refused.  Another model runs through tlspipe.path.model_neb (mass-weighted, no resume; in "
                        "LAMMPS lj units --units must say which material the reduced units stand for)")
    p.set_defaults(func=_run)


#: command-line flags that set an exact-path option (argparse dest = option name)
FLAG_OPTIONS = ("units", "images", "tol", "max_iter", "climb")


def options(args):
    """The options of a parsed command line (a :class:`~tlspipe.path.options.PathOptions`): the defaults,
    then the --config file, then the flags that were given."""
    from ..cli import given_flags, read_json_options
    from .batch import resolve_config

    cfg = read_json_options(args.config, "exact-path options (keys of tlspipe.path.DEFAULTS)") if args.config else {}
    return resolve_config({**cfg, **given_flags(args, FLAG_OPTIONS)})


def _run(args) -> int:
    from ..models import check_store_file
    from .batch import run_pairs

    m = check_store_file(args.store, args.model)  # a store of another model is refused, naming both
    if not m.is_soft_sphere:  # the NEB of any model through the engine interface (tlspipe.path.model_neb)
        from .model_neb import run_cli

        return run_cli(args, m, options(args))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    res = run_pairs(args.store, args.pairs, args.out, options(args), profiles_path=args.profiles, xyz_dir=args.path_xyz,
                    glass=args.glass, progress=args.progress)
    counts = res["status"].value_counts().to_dict()
    print(f"{len(res)} pairs -> {args.out}: {counts}")
    return 0
