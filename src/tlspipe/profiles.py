"""``tlspipe install-profile``: put the workflow's Snakemake profile (``profiles/<name>/`` of the repository)
where Snakemake looks up profiles by name, so that ``snakemake --profile slurm`` finds it."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_PROFILES = Path(__file__).resolve().parents[2] / "profiles"


def profile_home() -> Path:
    """The user's directory of named Snakemake profiles (~/.config/snakemake on Linux, or
    $XDG_CONFIG_HOME/snakemake), as Snakemake itself computes it."""
    from snakemake.cli import get_appdirs

    return Path(get_appdirs().user_config_dir)


#: written into an installed profile: the files tlspipe put there (what --force may replace)
MARKER = ".tlspipe-profile"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def install_profile(name: str = "slurm", dest: Path | None = None, source: Path | None = None,
                    force: bool = False) -> Path:
    """Copy the shipped profile ``name`` (a plain name of profiles/) to ``dest`` (default:
    profile_home()/name).  An existing profile there is kept unless ``force`` (it may hold the user's
    partition and account); ``force`` replaces only a profile folder tlspipe installed (the files it put
    there, listed in its MARKER file, or the shipped profile's file names) and never deletes anything else:
    a folder holding other files is refused."""
    have = sorted(p.name for p in REPO_PROFILES.iterdir()) if REPO_PROFILES.is_dir() else []
    if source is None:
        from .util.checks import plain_name

        plain_name(name, "install-profile NAME", "profile name", f"give one of the shipped profiles {have}")
    source = Path(source) if source else REPO_PROFILES / name
    if not (source / "config.yaml").is_file():
        raise FileNotFoundError(f"no profile {source}/config.yaml (shipped profiles: {have})")
    dest = Path(dest) if dest else profile_home() / name
    own = _files(source) | {MARKER}
    if dest.exists() or dest.is_symlink():
        if not force:
            raise FileExistsError(f"{dest} exists (it may hold your edits); give --force to replace it")
        if dest.is_symlink() or not dest.is_dir():
            raise FileExistsError(f"{dest} is not a folder; --force replaces only a profile folder installed by "
                                  "tlspipe - move it away or give --dest another folder")
        if (dest / MARKER).is_file():
            own |= set((dest / MARKER).read_text().split())
        other = sorted(_files(dest) - own)
        if other or not (dest / "config.yaml").is_file():
            raise FileExistsError(
                f"{dest} is not a profile folder installed by tlspipe (it holds {other[:5] or 'no config.yaml'}); "
                "--force replaces only such folders and never deletes other files - move it away or give "
                "--dest another folder")
        for rel in sorted(own & _files(dest)):
            (dest / rel).unlink()
    shutil.copytree(source, dest, dirs_exist_ok=True)
    (dest / MARKER).write_text("\n".join(sorted(_files(source))) + "\n")
    return dest


def _install_cmd(a) -> int:
    dest = install_profile(a.name, a.dest, force=a.force)
    print(f"installed {dest}; edit slurm_partition (and slurm_account) in {dest / 'config.yaml'}, "
          f"then run: snakemake --profile {a.name} --configfile config/paper.yaml")
    return 0


def register(sub):
    p = sub.add_parser("install-profile", help="install the workflow's Snakemake profile under its name",
                       description="Copy profiles/NAME/ of the repository to the directory where Snakemake "
                                   "looks up named profiles (~/.config/snakemake/NAME), so that "
                                   "`snakemake --profile NAME` works from any directory.")
    p.add_argument("name", nargs="?", default="slurm", help="profile to install (default %(default)s)")
    p.add_argument("--dest", type=Path, default=None, help="install here instead (a directory)")
    p.add_argument("--force", action="store_true", help="replace an installed profile of that name")
    p.set_defaults(func=_install_cmd)
