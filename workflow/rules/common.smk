# Shared helpers: config validation with defaults, the glass table, paths.
from pathlib import Path

from tlspipe.workflow import ConfigError, glass_info, glass_table, validate_config

_schema = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
try:
    _validated = validate_config(dict(config), schema_path=_schema, source="the study config")
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
