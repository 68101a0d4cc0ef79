"""The README's two commands are the ones CI and users run."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    readme = (REPO / "README.md").read_text()
    test_line = next(line for line in ci if "pytest" in line and not line.startswith("#"))
    assert test_line.strip() in readme


def test_readme_has_the_study_command():
    readme = (REPO / "README.md").read_text()
    assert "snakemake --cores 2" in readme
