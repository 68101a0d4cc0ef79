"""``tlspipe neb``: exact paths (NEB + 1D Schroedinger) for a table of IS pairs of one glass."""

from __future__ import annotations

import json
import logging


def register(subparsers):
    from .batch import DEFAULTS

    p = subparsers.add_parser(
        "neb",
        help="NEB + Schroedinger splitting for pairs of inherent structures (resumable)",
        description="Minimum energy path, double-well test, quantum splitting E_qs, classical barrier and WKB "
                    "Delta0 for every pair (is_a, is_b) of PAIRS, IS taken from STORE.  Pairs already in OUT "
                    "are skipped, so a killed run continues where it stopped.",
    )
    p.add_argument("store", help="IS store (HDF5) of one glass")
    p.add_argument("--pairs", required=True, help="CSV or Parquet with integer columns is_a, is_b")
    p.add_argument("--out", required=True, help="results (Parquet): glass, is_a, is_b, status, e_qs, ...")
    p.add_argument("--units", default=DEFAULTS["units"], help="unit preset for hbar and kelvin: paper (default, the authors' E_qs scale), argon, nip")
    p.add_argument("--images", type=int, default=DEFAULTS["images"], help="images including both ends")
    p.add_argument("--tol", type=float, default=DEFAULTS["tol"], help="force tolerance (epsilon/sigma)")
    p.add_argument("--max-iter", type=int, default=DEFAULTS["max_iter"])
    p.add_argument("--no-climb", action="store_true", help="no climbing image")
    p.add_argument("--config", help="JSON file with further options (keys of tlspipe.path.DEFAULTS)")
    p.add_argument("--path-xyz", metavar="DIR", help="write each band as extended XYZ (for OVITO) into DIR")
    p.add_argument("--profiles", metavar="OUT.h5", help="keep the profiles V(xi) in this HDF5 file")
    p.add_argument("--glass", help="glass label (default: the store's attribute, else its file name)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .batch import run_pairs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = {}
    if args.config:
        with open(args.config) as fh:
            try:
                cfg.update(json.load(fh))
            except json.JSONDecodeError as e:
                raise ValueError(f"{args.config}: not valid JSON ({e})") from None
    cfg.update(units=args.units, images=args.images, tol=args.tol, max_iter=args.max_iter)
    if args.no_climb:
        cfg["climb"] = False
    res = run_pairs(args.store, args.pairs, args.out, cfg, profiles_path=args.profiles, xyz_dir=args.path_xyz,
                    glass=args.glass, progress=args.progress)
    counts = res["status"].value_counts().to_dict()
    print(f"{len(res)} pairs -> {args.out}: {counts}")
    return 0
