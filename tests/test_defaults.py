"""One value per default: the config schema (what a study gets for a key it leaves out) and the package's
own defaults (what the library and the `tlspipe` command use) must agree, key by key."""

from pathlib import Path

import pytest

from tlspipe.learn.config import DEFAULTS as LEARN, TASK_DEFAULTS
from tlspipe.loop import LOOP_DEFAULTS
from tlspipe.pairs.defaults import PAIRS_DEFAULTS
from tlspipe.path import DEFAULTS as PATH
from tlspipe.sample.defaults import EXPLORE_DEFAULTS, N_PARTICLES, PREPARE_DEFAULTS
from tlspipe.workflow import WORKFLOW_ONLY, fill_defaults, load_schema, rule_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
D = fill_defaults(SCHEMA, {})



def _schema_section(name):
    """The section as a rule receives it: without the keys only the workflow uses (jobs and threads)."""
    return rule_config(D, name)


def test_workflow_only_keys_are_keys_of_the_schema():
    # the one list of them (tlspipe.workflow.WORKFLOW_ONLY): a key the schema lost would silently drop nothing
    for name, keys in WORKFLOW_ONLY.items():
        for k in keys:
            assert k in SCHEMA["properties"][name]["properties"], f"{name}.{k}"
    assert "workers" not in _schema_section("explore") and "chunk" not in _schema_section("neb")


@pytest.mark.parametrize("name, code", [("prepare", PREPARE_DEFAULTS), ("explore", EXPLORE_DEFAULTS),
                                        ("loop", LOOP_DEFAULTS), ("pairs", PAIRS_DEFAULTS)])
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


def test_pairs_and_particles_defaults_are_those_of_the_functions_and_commands():
    import inspect

    from tlspipe.cli import build_parser
    from tlspipe.pairs import featurise_store

    assert D["n_particles"] == N_PARTICLES
    sig = inspect.signature(featurise_store).parameters
    assert {k: sig[k].default for k in PAIRS_DEFAULTS} == PAIRS_DEFAULTS
    parser = build_parser()
    args = parser.parse_args(["features", "is.h5", "--out", "p.parquet"])
    assert (args.m, args.max_delta_e) == (D["pairs"]["m"], D["pairs"]["max_delta_e"])
    assert parser.parse_args(["prepare", "--tf", "0.062", "--out", "g.data"]).n == D["n_particles"]


def test_learn_defaults_equal_the_package():
    lc = D["learn"]
    assert lc["members"] == LEARN["members"]
    assert lc["n_folds"] == LEARN["n_folds"]
    assert lc["ensemble"] == LEARN["ensemble"]
    assert lc["time_budget"] == LEARN["time_budget"]
    assert lc["threads"] == LEARN["n_threads"]
    assert lc["regressor_layers"] == LEARN["n_layers"] == TASK_DEFAULTS["qs"].get("n_layers", LEARN["n_layers"])
    assert lc["dw_layers"] == TASK_DEFAULTS["dw"]["n_layers"]


def test_the_schema_offers_exactly_the_methods_and_optimisers_of_the_code():
    from tlspipe.path.neb import METHODS
    from tlspipe.path.optimise import OPTIMISERS

    neb = SCHEMA["properties"]["neb"]["properties"]
    assert set(neb["method"]["enum"]) == set(METHODS)
    assert set(neb["optimiser"]["enum"]) == set(OPTIMISERS)
