"""``tlspipe features``: pair features of one glass's IS store."""

from __future__ import annotations

import json

from .defaults import PAIRS_DEFAULTS


def register(subparsers):
    p = subparsers.add_parser(
        "features",
        help="features of every pair of inherent structures of one glass (Parquet)",
        description="Write the pair features (delta_e, largest displacements, d, pr, midpoint distances, "
                    "transition counts) of all IS pairs with delta_e <= --max-delta-e to a Parquet file. "
                    "An existing output made from the same store is extended with the pairs of newly "
                    "appended IS only.",
    )
    p.add_argument("store", help="IS store (HDF5, is.h5)")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--m", type=int, default=PAIRS_DEFAULTS["m"],
                   help=f"number of largest displacements (default {PAIRS_DEFAULTS['m']})")
    p.add_argument("--max-delta-e", type=float, default=PAIRS_DEFAULTS["max_delta_e"],
                   help=f"keep pairs with N (e_b - e_a) <= this, epsilon (default {PAIRS_DEFAULTS['max_delta_e']}; "
                        "inf keeps all)")
    p.add_argument("--glass", default=None, help="glass name (default: the store's 'glass' attribute, else the name of its folder)")
    p.add_argument("--threads", type=int, default=None, help="compute threads (default: all cores)")
    p.add_argument("--recompute", action="store_true", help="ignore an existing output, compute all pairs")
    p.add_argument("--model", default=None, metavar="MODEL.yaml",
                   help="model file of the store (default the built-in soft spheres); a store of another model "
                        "is refused")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..models import check_store_file
    from .features import featurise_store

    check_store_file(args.store, args.model)  # a store of another model is refused, naming both
    summary = featurise_store(args.store, args.out, glass=args.glass, m=args.m, max_delta_e=args.max_delta_e,
                              threads=args.threads, incremental=not args.recompute)
    print(json.dumps(summary, indent=1))
    return 0
