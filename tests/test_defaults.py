"""One value per default: the config schema (what a study gets for a key it leaves out) and the package's
own defaults (what the library and the `tlspipe` command use) must agree, key by key."""

from pathlib import Path

import pytest

from tlspipe.learn.config import DEFAULTS as LEARN, TASK_DEFAULTS
from tlspipe.loop import LOOP_DEFAULTS
from tlspipe.path import DEFAULTS as PATH
from tlspipe.sample.defaults import EXPLORE_DEFAULTS, PREPARE_DEFAULTS
from tlspipe.workflow import fill_defaults, load_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
D = fill_defaults(SCHEMA, {})

# keys of a schema section that only the workflow uses (how work is split into jobs and threads)
WORKFLOW_ONLY = {"explore": {"workers"}, "neb": {"chunk", "threads"}}


def _schema_section(name):
    return {k: v for k, v in D[name].items() if k not in WORKFLOW_ONLY.get(name, set())}


@pytest.mark.parametrize("name, code", [("prepare", PREPARE_DEFAULTS), ("explore", EXPLORE_DEFAULTS),
                                        ("loop", LOOP_DEFAULTS)])
def test_section_defaults_equal_the_package(name, code):
    schema = _schema_section(name)
    code = {k: v for k, v in code.items() if k != "engine"}  # the study-wide `engine` key, checked below
    assert schema == code


def test_exact_path_defaults_equal_the_package():
    # every neb key of the schema is an option of tlspipe.path with the same default; the path module has
    # more (optimiser internals) that a study does not tune
    for key, value in _schema_section("neb").items():
        assert key in PATH, f"neb.{key} is not an option of tlspipe.path"
        assert PATH[key] == value, key
    assert PATH["units"] == D["units"] and PATH["tls_threshold"] == D["tls_threshold"]
    assert EXPLORE_DEFAULTS["engine"] == D["engine"]


def test_learn_defaults_equal_the_package():
    lc = D["learn"]
    assert lc["members"] == LEARN["members"]
    assert lc["n_folds"] == LEARN["n_folds"]
    assert lc["ensemble"] == LEARN["ensemble"]
    assert lc["time_budget"] == LEARN["time_budget"]
    assert lc["threads"] == LEARN["n_threads"]
    assert lc["regressor_layers"] == LEARN["n_layers"] == TASK_DEFAULTS["qs"].get("n_layers", LEARN["n_layers"])
    assert lc["dw_layers"] == TASK_DEFAULTS["dw"]["n_layers"]
