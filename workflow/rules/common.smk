# Shared helpers: the study config (schema defaults, validation), the glass table, paths, input and params
# functions of the rules.  The rules get their config slices one way only, as `params` from config_provider(key).
import os
import sys
from pathlib import Path

import pandas as pd

from snakemake.settings.types import DeploymentMethod

from tlspipe import columns as C
from tlspipe.figures import caption_path
from tlspipe.loop import should_stop
from tlspipe.loop.run import chunk_names
from tlspipe.workflow import ConfigError, glass_table, glass_tf, resolve_data_paths, rule_config, study_config

# The study is the --configfile file(s) as given, with the schema's defaults: the default study is not
# merged under them (so there is no `configfile:` directive).  Without --configfile it is the working
# directory's config/config.yaml when there is one, else the repository's; --config values go on top.
_schema = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
_default = (
    "config/config.yaml"
    if os.path.exists("config/config.yaml")
    else os.path.join(workflow.basedir, "config", "config.yaml")
)
try:
    _validated = study_config(dict(config), workflow.overwrite_configfiles, default_file=_default, schema_path=_schema)
except ConfigError as e:
    raise WorkflowError(str(e))
config.clear()
config.update(_validated)

# Under --sdm conda the rules run in envs/tlspipe.yaml, which holds the dependencies: they import tlspipe
# from this checkout.  (`snakemake --lint` asks for an `envvars:` directive here; PYTHONPATH is extended
# when set, not required, and envvars: would make every run without it fail.)
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")) if p
    )

STUDY = config["study"]
R = f"results/{STUDY}"
GLASSES = {g["glass"]: g for g in glass_table(config)}
GLASS_NAMES = list(GLASSES)
GLASS_TF = glass_tf(config)
PAIR_FILES = [f"{R}/pairs/{g}.parquet" for g in GLASS_NAMES]
try:  # labelled tables the models start from (tlspipe.loop.pretrain)
    PRETRAIN = resolve_data_paths(config["loop"]["pretrain"], workflow.basedir)
except ConfigError as e:
    raise WorkflowError(str(e))

# every round adds a few levels to the DAG that Snakemake walks recursively
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


wildcard_constraints:
    glass=r"tf[0-9.]+_g[0-9]+",
    round=r"\d+",
    stage=r"loop/round_\d+|baseline",
    chunk=r"\d+",


def caption(name):
    """The static caption file of a figure or table (the study itself is described in the report's front page)."""
    return str(caption_path(name))


# ----------------------------------------------------------------------------- params: each rule's config slice
def config_provider(key=None, glass=False, with_keys=()):
    """The one way the rules get their config slices, as `params` (name=config_provider(key)): a function of
    the job's wildcards returning tlspipe.workflow.rule_config(config, key, ...): key a section ("neb"), a dotted
    key ("loop.min_hops"), a {name: dotted key} mapping, or None for the whole config.  A section never holds
    its workflow-only keys (tlspipe.workflow.WORKFLOW_ONLY: jobs and threads), so changing them reruns
    nothing; glass=True applies the job's glass group's overrides; with_keys adds top-level keys."""
    return lambda wildcards: rule_config(
        config, key, glass=GLASSES[wildcards.glass] if glass else None, with_keys=with_keys
    )


def glass_of(wildcards):
    """Name, Tf and seed of the job's glass."""
    g = GLASSES[wildcards.glass]
    return {"glass": g["glass"], "tf": g["tf"], "seed": g["seed"]}


def glass_tf_of(wildcards):
    """{glass: Tf} of the job's glass."""
    return {wildcards.glass: GLASS_TF[wildcards.glass]}


def predictions_of(stage):
    """The prediction tables of a round (stage round_<i>, or pretrained): one per glass."""
    return [f"{R}/loop/{stage}/predictions/{g}.parquet" for g in GLASS_NAMES]


def batch_params(wildcards):
    """The keys that choose round i's pairs, and only those: changing loop.max_rounds reruns no batch."""
    first = int(wildcards.round) == 0
    if first and not PRETRAIN:
        keys = {"k0": "loop.k0", "screen_fraction": "loop.screen_fraction", "seed": "seed"}
    else:
        keys = {
            "batch": "loop.k0" if first else "loop.batch",
            "dw_threshold": "loop.dw_threshold",
            "qs_factor": "loop.qs_factor",
            "tls_threshold": "tls_threshold",
        }
    return config_provider({**keys, "chunk": "neb.chunk", "min_hops": "loop.min_hops"})(wildcards)


# ----------------------------------------------------------------------------- inputs
def glass_file_of(wildcards):
    """prepare.protocol files: the job's LAMMPS data file (tlspipe.workflow.resolve_glass_files), so that a changed
    file makes its glass again; other protocols have no input."""
    p = rule_config(config, "prepare", glass=GLASSES[wildcards.glass])
    return {"file": p["file"]} if p.get("protocol") == "files" else {}


def batch_inputs(wildcards):
    """Round 0: the pairs (K0 screened/random), or with loop.pretrain the pretrained models' predictions."""
    i = int(wildcards.round)
    if i == 0 and PRETRAIN:
        return {"pairs": PAIR_FILES, "predictions": predictions_of("pretrained"), "done": []}
    if i == 0:
        return {"pairs": PAIR_FILES}
    return {
        "pairs": PAIR_FILES,
        "predictions": predictions_of(f"round_{i - 1}"),
        "done": [f"{R}/loop/round_{k}/exact.parquet" for k in range(i)],
    }


def _chunks(stage):
    if stage == "baseline":
        return chunk_names(checkpoints.baseline_batch.get().output.chunks)
    return chunk_names(checkpoints.batch.get(round=stage.split("_")[-1]).output.chunks)


def stage_chunks(wildcards):
    """The exact results of every chunk of a stage's batch (known once its batch checkpoint ran)."""
    return [f"{R}/{wildcards.stage}/exact/{c}.parquet" for c in _chunks(wildcards.stage)]


def _stop(exact):
    lp = config["loop"]
    return should_stop(exact, config["tls_threshold"], lp["max_rounds"], lp["stop_fraction"])


def loop_rounds():
    """Rounds 0..n of the loop under the current stop rule.

    Each round's results are asked for with checkpoints.gather.get(): while a round is missing this raises,
    Snakemake plans that round, and after it the jobs that called this are evaluated again - so one run of
    Snakemake goes round after round until the stop rule says stop.

    From round 1 on, the round's batch checkpoint is asked for first, here and not only inside gather's input
    function: Snakemake resolves a checkpoint met while it re-plans (a later round's batch) only for the job
    that asked for it, not for the jobs that job brought in; so after a stop between a round's batch and its
    gather (a kill during its NEB jobs) gather was handed the batch file as a placeholder input on every rerun.
    (Round 0's batch is met when the plan is first built, where this does not arise.)
    """
    exact = []
    i = 0
    while True:
        if i:
            checkpoints.batch.get(round=str(i))
        f = checkpoints.gather.get(stage=f"loop/round_{i}").output[0]
        if not os.path.exists(f):  # being rewritten right now: wait for it as a plain input
            return list(range(i + 1))
        exact.append(pd.read_parquet(f, columns=[C.STATUS, C.E_QS]))
        if _stop(exact)[0]:
            return list(range(i + 1))
        i += 1


def rounds_on_disk(wildcards):
    """The batch and exact results of the loop's rounds already on disk, as far as the loop's stop test goes; the
    files loop_rounds() will walk through, found without a checkpoint (plain inputs of tls_table).

    Only for planning speed.  loop_rounds() meets one checkpoint at a time, and Snakemake re-plans the whole
    DAG after resolving each (two per round): the paper's study at its 11th round, ~7,000 jobs, took 60 s
    to plan.  Naming the finished rounds' files puts their checkpoint jobs in the DAG from the start, so
    Snakemake resolves them in one pass (benchmarks/dag.py).  When a change reruns a round, the rounds after
    it are asked for as they were before, even if the new results would stop the loop earlier."""
    files, exact = [], []
    i = 0
    while True:
        d = f"{R}/loop/round_{i}"
        if i:
            if not os.path.exists(f"{d}/batch.parquet"):
                return files
            files.append(f"{d}/batch.parquet")
        if not os.path.exists(f"{d}/exact.parquet"):
            return files
        files.append(f"{d}/exact.parquet")
        exact.append(pd.read_parquet(f"{d}/exact.parquet", columns=[C.STATUS, C.E_QS]))
        if _stop(exact)[0]:
            return files
        i += 1


def last_round():
    return loop_rounds()[-1]


def exact_up_to(wildcards):
    """Exact results of rounds 0..i (what round i's models learn from)."""
    return [f"{R}/loop/round_{k}/exact.parquet" for k in range(int(wildcards.round) + 1)]


def loop_files(name):
    """An input function: `name` (e.g. exact.parquet) of every round of the loop."""
    return lambda wildcards: [f"{R}/loop/round_{k}/{name}" for k in loop_rounds()]


def loop_predictions(wildcards):
    """The prediction tables of every round of the loop, round after round (one per glass)."""
    return [f for k in loop_rounds() for f in predictions_of(f"round_{k}")]


def shap_of_last_round(kind):
    return lambda wildcards: f"{R}/loop/round_{last_round()}/shap_{kind}.parquet"


def timed_jobs(wildcards):
    """The benchmark files of every job of the study whose time table2 reports."""
    files = [f"{R}/benchmarks/{rule}/{g}.tsv" for rule in ("prepare", "explore", "pairs") for g in GLASS_NAMES]
    for k in loop_rounds():
        stage = f"loop/round_{k}"
        files += [f"{R}/benchmarks/neb/{stage}/{c}.tsv" for c in _chunks(stage)]
        files += [f"{R}/benchmarks/{rule}/round_{k}.tsv" for rule in ("batch", "train")]
        files += [f"{R}/benchmarks/predict/round_{k}/{g}.tsv" for g in GLASS_NAMES]
    if PRETRAIN:
        files += [f"{R}/benchmarks/train/pretrained.tsv"]
        files += [f"{R}/benchmarks/predict/pretrained/{g}.tsv" for g in GLASS_NAMES]
    files += [f"{R}/benchmarks/neb/baseline/{c}.tsv" for c in _chunks("baseline")]
    return files
