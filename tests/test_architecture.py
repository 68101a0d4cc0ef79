"""Each stage owns its rules' code (docs/ARCHITECTURE.md): a rule file per stage, and each rule's script
imports its own stage's package only (and tlspipe.workflow for its log)."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# script -> (the rule file whose rules run it, the package it calls)
STAGES = {
    "study_config.py": ("Snakefile", "tlspipe.workflow"),
    "prepare.py": ("workflow/rules/prepare.smk", "tlspipe.sample"),
    "explore.py": ("workflow/rules/explore.smk", "tlspipe.sample"),
    "pairs.py": ("workflow/rules/pairs.smk", "tlspipe.pairs"),
    "neb.py": ("workflow/rules/neb.smk", "tlspipe.path"),
    "batch.py": ("workflow/rules/loop.smk", "tlspipe.loop"),
    "gather.py": ("workflow/rules/loop.smk", "tlspipe.loop"),
    "train.py": ("workflow/rules/learn.smk", "tlspipe.learn"),
    "predict.py": ("workflow/rules/learn.smk", "tlspipe.learn"),
    "shap.py": ("workflow/rules/learn.smk", "tlspipe.learn"),
    "tls_table.py": ("workflow/rules/figures.smk", "tlspipe.figures"),
    "table1.py": ("workflow/rules/figures.smk", "tlspipe.figures"),
    "table2.py": ("workflow/rules/figures.smk", "tlspipe.figures"),
    "figure.py": ("workflow/rules/figures.smk", "tlspipe.figures"),
}


def _tlspipe_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tlspipe"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("tlspipe")}
    return names


def test_every_script_has_a_stage():
    assert sorted(p.name for p in (REPO / "workflow" / "scripts").glob("*.py")) == sorted(STAGES)


@pytest.mark.parametrize("script", sorted(STAGES))
def test_a_rule_script_calls_its_own_stage(script):
    rule_file, package = STAGES[script]
    for module in _tlspipe_imports(REPO / "workflow" / "scripts" / script):
        assert module == package or module.startswith(package + ".") or module == "tlspipe.workflow", (
            f"workflow/scripts/{script} imports {module}; its rules belong to {package}")
    used = re.findall(r'script:\s*\n\s*"[./]*(?:workflow/)?scripts/([\w.]+)"', (REPO / rule_file).read_text())
    assert script in used, f"{script} is not run by a rule of {rule_file}"


def test_the_loop_keeps_to_its_own_logic():
    # batch choice, pretraining tables, the stop rule: no model, no exact path, no figure
    for path in (REPO / "src" / "tlspipe" / "loop").glob("*.py"):
        for module in _tlspipe_imports(path):
            assert not module.startswith(("tlspipe.learn", "tlspipe.path", "tlspipe.figures")), (path.name, module)
        text = path.read_text()
        assert not re.search(r"from \.\.(learn|path|figures)\b", text), path.name
