"""``tlspipe figure fig3|fig4|fig5|fig6|table1|table2|standin``: figures and tables from the workflow's tables."""

from __future__ import annotations

import json
from pathlib import Path

_TABLE_HELP = "(.parquet, .csv or .feather)"


def register(subparsers):
    p = subparsers.add_parser(
        "figure", help="paper figures and tables from the result tables (no physics is rerun)",
        description="Draw a figure (PNG; the PDF is written beside it) or write a table (CSV) from the "
                    "workflow's tables.  'standin' writes synthetic tables in the same layout for previews.")
    sub = p.add_subparsers(dest="figure", metavar="WHAT", required=True)

    f = sub.add_parser("fig3", help="predicted vs exact E_qs and barrier, per Tf")
    f.add_argument("--tls", required=True, help=f"exact-results table tls.parquet {_TABLE_HELP}")
    f.add_argument("--out", required=True, help="output image (.png also writes the .pdf)")
    f.add_argument("--energy-unit", choices=["epsilon", "kelvin"], default="epsilon")
    f.add_argument("--rounds", type=int, nargs="+", default=None,
                   help="only pairs computed in these iterative rounds (default: all DW)")
    f.set_defaults(func=_fig3)

    f = sub.add_parser("fig4", help="confusion at the TLS threshold, TLS found vs calculations, n(E)/E, "
                                    "TLS and DW per glass")
    f.add_argument("--tls", required=True, help=f"exact-results table tls.parquet {_TABLE_HELP}")
    f.add_argument("--out", required=True, help="output image (.png also writes the .pdf)")
    f.add_argument("--threshold", type=float, default=0.0015, help="TLS threshold on E_qs, epsilon (0.0015)")
    f.add_argument("--n-particles", type=int, default=None,
                   help="particles per glass, for n(E)/E per volume (default: from --config, else per glass)")
    _glass_args(f)
    f.add_argument("--energy-unit", choices=["epsilon", "kelvin"], default="epsilon")
    f.add_argument("--tf-confusion", type=float, default=None, help="Tf of panel (a) (default: all)")
    f.set_defaults(func=_fig4)

    f = sub.add_parser("fig5", help="SHAP summaries of the QS regressor and the DW classifier")
    f.add_argument("--shap-qs", required=True, help=f"SHAP table of the QS regressor {_TABLE_HELP}")
    f.add_argument("--shap-dw", required=True, help=f"SHAP table of the DW classifier {_TABLE_HELP}")
    f.add_argument("--out", required=True, help="output image (.png also writes the .pdf)")
    f.add_argument("--max-points", type=int, default=5000, help="pairs drawn per panel (default 5000)")
    f.set_defaults(func=_fig5)

    f = sub.add_parser("fig6", help="distributions for all pairs, DW and TLS at one Tf")
    f.add_argument("--pairs", required=True, nargs="+", help="pair tables pairs/{glass}.parquet")
    f.add_argument("--tls", required=True, help=f"exact-results table tls.parquet {_TABLE_HELP}")
    f.add_argument("--out", required=True, help="output image (.png also writes the .pdf)")
    f.add_argument("--tf", type=float, default=None, help="Tf shown (default: the lowest)")
    f.add_argument("--threshold", type=float, default=None,
                   help="TLS threshold on E_qs, epsilon (default: the table's is_tls column)")
    _glass_args(f)
    f.set_defaults(func=_fig6)

    f = sub.add_parser("table1", help="iterative vs standard procedure per Tf (CSV)")
    f.add_argument("--tls", required=True, help=f"exact-results table tls.parquet {_TABLE_HELP}")
    f.add_argument("--out", required=True, help="output table (.csv or .parquet)")
    f.add_argument("--pretrain-round", default="0",
                   help="round holding the random pretraining set, left out of calc_iterative ('none': keep all)")
    f.add_argument("--threshold", type=float, default=None,
                   help="TLS threshold on E_qs, epsilon (default: the table's is_tls column)")
    f.add_argument("--min-transitions", type=int, default=None,
                   help="the standard procedure's filter min(T_ab, T_ba) >= this: count the iterative TLS outside it")
    f.set_defaults(func=_table1)

    f = sub.add_parser("table2", help="time per pipeline step from benchmark files, beside the paper's; total "
                       "CPU time and TLS per CPU-hour (CSV)")
    f.add_argument("--benchmarks", required=True, help="directory of benchmark files {rule}/...tsv")
    f.add_argument("--out", required=True, help="output table (.csv or .parquet)")
    f.add_argument("--tls", default=None,
                   help="tls.parquet: number of exact calculations and rounds, TLS found (per CPU-hour)")
    f.add_argument("--pairs", nargs="+", default=None, help="pair tables: number of pairs and glasses")
    f.add_argument("--predictions", nargs="+", default=None, help="per-round prediction tables")
    f.set_defaults(func=_table2)

    f = sub.add_parser("standin", help="write synthetic tables in the workflow's layout (previews, tests)")
    f.add_argument("--out", required=True, help="directory (a stand-in results/{study})")
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=_standin)


def _glass_args(p):
    p.add_argument("--glass-tf", default=None,
                   help="glass -> Tf of every glass: a table with columns glass, tf (.csv/.parquet) or a JSON object")
    p.add_argument("--config", default=None, help="study config (YAML): glasses and n_particles from it")


def _load_config(path):
    from ..util.checks import load_yaml
    from ..workflow import validate_config

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config: {path} does not exist")
    return validate_config(load_yaml(path), source=str(path))


def _glass_tf(args):
    """glass -> Tf from --glass-tf or --config (None when neither is given)."""
    if args.glass_tf:
        path = Path(args.glass_tf)
        if not path.is_file():
            raise FileNotFoundError(f"--glass-tf: {path} does not exist")
        if path.suffix.lower() == ".json":
            from ..util.checks import read_json

            data = read_json(path, "glass -> Tf")
            if not isinstance(data, dict):
                raise ValueError(f"--glass-tf: {path} must hold a JSON object {{glass: tf}}")
            return {str(k): float(v) for k, v in data.items()}
        from .common import read_table

        from .. import columns as C
        from .common import TF

        return read_table(path, f"--glass-tf {path}", [C.GLASS, TF])
    if args.config:
        from ..workflow import glass_tf

        return glass_tf(_load_config(args.config))
    return None


def _done(paths) -> int:
    for p in paths:
        print(f"wrote {p}")
    return 0


def _written(out) -> list[Path]:
    out = Path(out)
    return [out, out.with_suffix(".pdf")] if out.suffix.lower() == ".png" else [out]


def _fig3(args) -> int:
    from .fig3 import fig3

    fig3(args.tls, args.out, energy_unit=args.energy_unit, rounds=args.rounds)
    return _done(_written(args.out))


def _fig4(args) -> int:
    from .fig4 import fig4

    n_particles = args.n_particles
    if n_particles is None and args.config:
        n_particles = int(_load_config(args.config)["n_particles"])
    fig4(args.tls, args.out, args.threshold, glass_tf=_glass_tf(args), n_particles=n_particles,
         energy_unit=args.energy_unit, tf_confusion=args.tf_confusion)
    return _done(_written(args.out))


def _fig5(args) -> int:
    from .fig5 import fig5

    fig5(args.shap_qs, args.shap_dw, args.out, max_points=args.max_points)
    return _done(_written(args.out))


def _fig6(args) -> int:
    from .fig6 import fig6

    fig6(args.pairs, args.tls, args.out, glass_tf=_glass_tf(args), tf=args.tf, tls_threshold=args.threshold)
    return _done(_written(args.out))


def _write_table(df, out) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(out, index=False)
    elif out.suffix.lower() == ".csv":
        df.to_csv(out, index=False)
    else:
        raise ValueError(f"--out {out}: unknown table format {out.suffix!r}; use .csv or .parquet")


def _table1(args) -> int:
    from .tables import table1

    pr = args.pretrain_round
    pr = None if str(pr).lower() == "none" else int(pr)
    df = table1(args.tls, pretrain_round=pr, tls_threshold=args.threshold, min_transitions=args.min_transitions)
    _write_table(df, args.out)
    print(df.to_string(index=False))
    return _done([args.out])


def _table2(args) -> int:
    from .tables import counts_from_tables, study_benchmark_files, table2

    counts = counts_from_tables(args.tls, args.pairs, args.predictions)
    files = study_benchmark_files(args.benchmarks) if Path(args.benchmarks).is_dir() else None
    df = table2(args.benchmarks, **counts, files=files, tls=args.tls)
    _write_table(df, args.out)
    print(df.to_string(index=False))
    return _done([args.out])


def _standin(args) -> int:
    from .standin import write_tables

    paths = write_tables(args.out, seed=args.seed)
    return _done(sorted(str(p) for p in paths.values()))
