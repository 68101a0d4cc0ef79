"""The ``tlspipe`` command.  Each subpackage that offers commands has a ``cli.py`` with
``register(subparsers)``; this module only collects them."""

from __future__ import annotations

import argparse
import importlib
import sys

# modules that add subcommands, in the order they appear in --help
_COMMAND_MODULES = [
    "tlspipe.store.cli",  # inspect, import-lammps
    "tlspipe.sample.cli",  # prepare, explore
    "tlspipe.pairs.cli",  # features
    "tlspipe.path.cli",  # neb
    "tlspipe.learn.cli",  # learn evaluate|fit|predict
    "tlspipe.loop.cli",
    "tlspipe.figures.cli",
    "tlspipe.profiles",  # install-profile
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="tlspipe",
        description="Find two-level systems in computer glasses: glasses, inherent structures, pair features, "
                    "exact NEB + Schroedinger paths, and the machine-learning models that choose which pairs to "
                    "compute.  The Snakemake workflow runs these steps for a whole study.")
    p.add_argument("--version", action="version", version=f"tlspipe {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # subpackage without commands (yet)
                continue
            raise
        mod.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except (ValueError, FileNotFoundError, OSError, ImportError) as e:
        print(f"tlspipe {args.command}: error: {e}", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
