"""The study config: a --configfile is the whole study (plus the schema's defaults), every shipped file
resolves to what it says, and a mistake anywhere, per-glass overrides included, stops the plan."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tlspipe.workflow import ConfigError, study_config, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SHIPPED = ["config.yaml", "paper.yaml", "test.yaml", "table1.yaml", "table1-cluster.yaml"]


def _load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


def _snakemake(workdir, *args):
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--cores", "1"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _leaves(d, prefix=()):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def _get(d, path):
    for k in path:
        d = d[k]
    return d


@pytest.mark.parametrize("name", SHIPPED)
def test_a_given_file_is_the_whole_study(name):
    """Every value of the file is kept; every other key has the schema's default, not the default study's."""
    given = _load(name)
    cfg = study_config(given, [REPO / "config" / name], default_file=REPO / "config" / "config.yaml",
                       schema_path=SCHEMA)
    assert cfg == validate_config(given, schema_path=SCHEMA)
    for path, value in _leaves(given):
        assert _get(cfg, path) == value, path
    schema = yaml.safe_load(SCHEMA.read_text())
    for section in ("explore", "neb", "learn", "loop", "baseline"):
        for key, sub in schema["properties"][section]["properties"].items():
            if key not in given.get(section, {}):
                assert cfg[section][key] == sub["default"], (name, section, key)


def test_paper_file_keeps_the_paper_filter():
    """The default study's baseline.min_transitions: 2 must not leak into the paper's study (4)."""
    assert _load("config.yaml")["baseline"]["min_transitions"] == 2
    paper = study_config(_load("paper.yaml"), [REPO / "config" / "paper.yaml"],
                         default_file=REPO / "config" / "config.yaml", schema_path=SCHEMA)
    assert paper["baseline"]["min_transitions"] == 4


def test_without_a_file_the_default_study_and_command_line_values():
    cfg = study_config({"seed": 5}, [], default_file=REPO / "config" / "config.yaml", schema_path=SCHEMA)
    assert cfg["study"] == "default" and cfg["seed"] == 5
    assert cfg["baseline"]["min_transitions"] == 2 and cfg["neb"]["chunk"] == 15


@pytest.mark.parametrize("name", SHIPPED)
def test_workflow_resolves_each_shipped_file(tmp_path, name):
    """What the workflow runs with (its results/{study}/config.yaml) is the file plus the schema's defaults,
    also when the working directory has a config/config.yaml of its own."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    given = _load(name)
    target = f"results/{given['study']}/config.yaml"
    r = _snakemake(tmp_path, target, "--configfile", str(REPO / "config" / name))
    assert r.returncode == 0, r.stderr[-3000:]
    written = yaml.safe_load((tmp_path / target).read_text())
    assert written == validate_config(given, schema_path=SCHEMA)


def test_workflow_without_configfile_runs_the_default_study(tmp_path):
    r = _snakemake(tmp_path, "results/default/config.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    written = yaml.safe_load((tmp_path / "results/default/config.yaml").read_text())
    assert written == validate_config(_load("config.yaml"), schema_path=SCHEMA)


def test_per_glass_override_keys_are_validated():
    with pytest.raises(ConfigError, match=r"glasses\.0\.explore.*n_trj"):
        validate_config({"glasses": [{"tf": 0.092, "explore": {"n_trj": 3}}]}, schema_path=SCHEMA)
    with pytest.raises(ConfigError, match=r"glasses\.0\.prepare\.n_blocks"):
        validate_config({"glasses": [{"tf": 0.092, "prepare": {"n_blocks": "many"}}]}, schema_path=SCHEMA)


def test_dry_run_stops_on_a_per_glass_typo(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("glasses:\n  - {tf: 0.092, count: 1, explore: {n_trj: 3}}\n")
    r = _snakemake(tmp_path, "-n", "--configfile", str(bad))
    assert r.returncode != 0
    assert "glasses.0.explore" in r.stdout + r.stderr and "n_trj" in r.stdout + r.stderr


def test_rule_config_is_each_rules_slice():
    """What `config_provider` (workflow/rules/common.smk) hands a rule: a section without its workflow-only
    keys, a glass group's overrides, a dotted key, a mapping of keys; an unknown key is named."""
    from tlspipe.workflow import glass_table, rule_config

    cfg = validate_config({"glasses": [{"tf": 0.062, "count": 1, "explore": {"n_traj": 2}}],
                           "explore": {"workers": 3}, "neb": {"chunk": 7, "images": 20}}, schema_path=SCHEMA)
    g = glass_table(cfg)[0]
    explore = rule_config(cfg, "explore", glass=g)
    assert "workers" not in explore and explore["n_traj"] == 2 and cfg["explore"]["n_traj"] != 2
    neb = rule_config(cfg, "neb", with_keys=("units", "tls_threshold"))
    assert "chunk" not in neb and neb["images"] == 20 and neb["units"] == cfg["units"]
    assert rule_config(cfg, "loop.min_hops") == cfg["loop"]["min_hops"]
    assert rule_config(cfg, {"c": "neb.chunk", "s": "seed"}) == {"c": 7, "s": cfg["seed"]}
    assert rule_config(cfg) is cfg
    with pytest.raises(ConfigError, match="'loop.nope'"):
        rule_config(cfg, "loop.nope")
