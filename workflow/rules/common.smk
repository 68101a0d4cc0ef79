# Shared helpers: the study config (schema defaults, validation), the glass table, paths, input functions.
import os
from pathlib import Path

from tlspipe.workflow import ConfigError, glass_info, glass_table, study_config

# The study is the --configfile file(s) as given, with the schema's defaults: the default study is not
# merged under them (so there is no `configfile:` directive).  Without --configfile it is the working
# directory's config/config.yaml when there is one, else the repository's; --config values go on top.
_schema = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
_default = "config/config.yaml" if os.path.exists("config/config.yaml") else os.path.join(workflow.basedir, "config", "config.yaml")
try:
    _validated = study_config(dict(config), workflow.overwrite_configfiles, default_file=_default, schema_path=_schema)
except ConfigError as e:
    raise WorkflowError(str(e))
config.clear()
config.update(_validated)

STUDY = config["study"]
R = f"results/{STUDY}"
GLASSES = glass_table(config)
GLASS_NAMES = [g["glass"] for g in GLASSES]
GLASS_TF = {g["glass"]: g["tf"] for g in GLASSES}
PAIR_FILES = [f"{R}/pairs/{g}.parquet" for g in GLASS_NAMES]


wildcard_constraints:
    glass=r"tf[0-9.]+_g[0-9]+",


def glass_of(wildcards):
    return glass_info(config, wildcards.glass)


from tlspipe.figures import caption_path


def _caption(name):
    """The figure's caption with the config that made it, written next to the results (for --report)."""
    path = Path(f".snakemake/captions/{STUDY}/{name}.rst")
    path.parent.mkdir(parents=True, exist_ok=True)
    glasses = ", ".join(f"{g['count']} at Tf = {g['tf']}" for g in config["glasses"])
    lp = config["loop"]
    units = config["units"] if isinstance(config["units"], str) else "custom"
    text = caption_path(name).read_text().rstrip() + (
        f"\n\nStudy ``{STUDY}``: N = {config['n_particles']}, glasses {glasses}; exploration "
        f"{config['explore']['n_traj']} trajectories of {config['explore']['traj_time']} per glass; "
        f"units {units}, TLS threshold {config['tls_threshold']} epsilon; loop K0 = {lp['k0']}, "
        f"K_i = {lp['batch']}, at most {lp['max_rounds']} rounds; seed {config['seed']}.\n"
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return str(path.resolve())
