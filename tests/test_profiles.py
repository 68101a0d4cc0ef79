"""`tlspipe install-profile` puts the shipped SLURM profile where `snakemake --profile slurm` finds it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_install_profile_is_found_by_name(tmp_path, monkeypatch):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "tlspipe.cli", "install-profile"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 0, r.stderr
    installed = tmp_path / "xdg" / "snakemake" / "slurm" / "config.yaml"
    assert installed.read_text() == (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    # Snakemake's own lookup of a profile name resolves to it
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    monkeypatch.chdir(tmp_path)
    from snakemake.cli import get_profile_dir

    assert get_profile_dir("slurm")[0] == installed.parent
    # an installed (maybe edited) profile is kept unless --force
    installed.write_text(installed.read_text() + "# my partition\n")
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode != 0 and "--force" in r.stderr and installed.read_text().endswith("# my partition\n")
    r = subprocess.run(cmd + ["--force"], capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 0 and not installed.read_text().endswith("# my partition\n")
