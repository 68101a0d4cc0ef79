"""The ``tlspipe`` command collects every listed command module, and refuses a listed one that is missing."""

import pytest

from tlspipe import cli


def test_every_listed_module_registers_its_commands():
    sub = cli.build_parser()._subparsers._group_actions[0]
    commands = set(sub.choices)
    for name in ("inspect", "neb", "features", "install-profile"):
        assert name in commands, name
    assert "tlspipe.loop.cli" not in cli._COMMAND_MODULES


def test_a_missing_command_module_is_named(monkeypatch):
    monkeypatch.setattr(cli, "_COMMAND_MODULES", [*cli._COMMAND_MODULES, "tlspipe.loop.nonexistent_cli"])
    with pytest.raises(ImportError, match="tlspipe.loop.nonexistent_cli does not exist"):
        cli.build_parser()


def test_a_module_without_register_is_named(monkeypatch):
    monkeypatch.setattr(cli, "_COMMAND_MODULES", ["tlspipe.columns"])
    with pytest.raises(ImportError, match="tlspipe.columns has no register"):
        cli.build_parser()
