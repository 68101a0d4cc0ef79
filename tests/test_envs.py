"""envs/tlspipe.yaml (the conda environment of the rules) holds exactly pyproject.toml's dependencies, with
the same lower bounds, and every rule that runs package code uses it."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# conda-forge names of the PyPI packages whose names differ
CONDA_NAME = {"matplotlib": "matplotlib-base", "snakemake": "snakemake-minimal"}


def _split(spec):
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)", spec)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_env_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "tlspipe.yaml").read_text())
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    want = {CONDA_NAME.get(name, name): bound for name, bound in map(_split, project["dependencies"])}
    want["python"] = project["requires-python"].replace(" ", "")
    assert conda == want
    assert "conda-forge" in env["channels"]


def test_rules_that_run_package_code_use_the_env():
    texts = [(REPO / "Snakefile").read_text()] + [p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk")]
    for text in texts:
        for block in re.split(r"\n(?=(?:rule|checkpoint) )", text):
            m = re.match(r"(?:rule|checkpoint) (\w+):", block)
            if not m or "script:" not in block:
                continue
            assert re.search(r'conda:\n\s+"[./]*envs/tlspipe.yaml"', block), f"rule {m.group(1)} has no conda: env"
