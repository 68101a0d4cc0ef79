"""The workflow by the book: `snakefmt --check` finds nothing to change, and `snakemake --lint` raises only
the warning argued in workflow/rules/common.smk (PYTHONPATH is extended under --sdm conda, not required)."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_snakefmt_leaves_the_workflow_unchanged():
    r = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "workflow", "Snakefile"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_lint_raises_only_the_argued_warning(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile"),
                        "--directory", str(REPO)], cwd=REPO, capture_output=True, text=True)
    out = r.stdout + r.stderr
    titles = re.findall(r"^\s*\* (.+?):?$", out, flags=re.M)
    assert titles, out  # the PYTHONPATH one is expected: proves the linter ran
    assert all(t.startswith("Environment variable PYTHONPATH used") for t in titles), titles
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "`snakemake --lint` asks for an `envvars:` directive here" in common
