"""The ``tlspipe`` command.  Each subpackage that offers commands has a ``cli.py`` with
``register(subparsers)``; this module only collects them.  A module in the list that cannot be imported, or
has no ``register``, is an error naming it, never skipped: a command never disappears without a word.  The
loop (:mod:`tlspipe.loop`) has no command: its steps need a whole study's tables and run as the workflow's
``batch`` and ``gather`` rules."""

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
    "tlspipe.figures.cli",
    "tlspipe.profiles",  # install-profile
]


def read_json_options(path, what: str) -> dict:
    """The JSON object of a ``--config`` file; errors name the file (``what``: where its keys are listed)."""
    import json
    from pathlib import Path

    try:
        from .util.checks import json_object_pairs

        data = json.loads(Path(path).read_text(), object_pairs_hook=json_object_pairs(str(path)))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such config file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); give a JSON object of {what}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of {what}, got {type(data).__name__}")
    return data


def given_flags(args, names) -> dict:
    """{name: value} of the flags in ``names`` given on the command line (their argparse default is None), so
    that a flag overrides a --config file only when the user gave it: defaults < file < given flags."""
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


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
            if e.name == name:
                raise ImportError(f"tlspipe.cli: command module {name} does not exist; remove it from "
                                  "_COMMAND_MODULES or add the module") from e
            raise
        if not callable(getattr(mod, "register", None)):
            raise ImportError(f"tlspipe.cli: command module {name} has no register(subparsers)")
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
