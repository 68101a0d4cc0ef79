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


wildcard_constraints:
    glass=r"tf[0-9.]+_g[0-9]+",


def glass_of(wildcards):
    return glass_info(config, wildcards.glass)
