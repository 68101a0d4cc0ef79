"""Helpers shared by the Snakefile, the rule scripts and the command line: config defaults and validation,
each rule's config slice (:func:`rule_config`, the workflow-only keys :data:`WORKFLOW_ONLY`), glass names and
seeds, logging into a rule's log file."""

from __future__ import annotations

import copy
import logging
import os
import sys
from pathlib import Path

import numpy as np
import yaml

from .util.io import atomic_write_text

REPO_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def fill_defaults(schema: dict, cfg):
    """Fill every missing property that has a ``default`` in the schema, recursively (a deep copy).  Keys come
    in the schema's order (then any unknown ones), so the same study gives the same config, and the same
    rule params, whatever the order of its file.  The items of an array of objects are filled by its
    ``items`` schema (a glass group without ``count`` takes its default 1)."""
    if isinstance(cfg, list) and schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return [fill_defaults(schema["items"], x) for x in cfg]
    if not isinstance(cfg, dict) or schema.get("type") != "object":
        return cfg
    out = {}
    for key, sub in schema.get("properties", {}).items():
        if key in cfg:
            out[key] = fill_defaults(sub, cfg[key])
        elif "default" in sub:
            out[key] = fill_defaults(sub, copy.deepcopy(sub["default"]))
    out.update({k: v for k, v in cfg.items() if k not in out})
    return out


def load_schema(path=None) -> dict:
    from .util.checks import load_yaml

    return load_yaml(Path(path) if path else REPO_SCHEMA)


def validate_config(cfg: dict, schema_path=None, source: str = "config") -> dict:
    """Defaults filled in, then validated; an unknown key or a wrong type is a ConfigError naming the key."""
    import jsonschema

    schema = load_schema(schema_path)
    full = fill_defaults(schema, cfg or {})
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(full), key=lambda e: list(e.path))
    if errors:
        lines = []
        for e in errors:
            where = ".".join(str(p) for p in e.path) or "(top level)"
            lines.append(f"  {where}: {e.message}")
        raise ConfigError(
            f"{source} is not valid:\n" + "\n".join(lines)
            + f"\nFix the key(s) above; every key, its type and default are in {schema_path or REPO_SCHEMA}"
        )
    return full


def tf_label(tf: float) -> str:
    """Tf as it appears in glass names: 3 decimals (tf0.092) when that is Tf exactly, else every digit
    needed to tell it apart (tf0.0921), so that two different Tf never share a name."""
    s = f"{tf:.3f}"
    return s if float(s) == tf else repr(float(tf))


def _merge(base: dict, over: dict) -> dict:
    """``base`` updated by ``over``, recursively for nested mappings (as Snakemake merges config files)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def study_config(given: dict | None = None, configfiles=(), default_file=None, schema_path=None) -> dict:
    """The config a run uses, with the schema's defaults filled in and validated.

    ``given``: what the command line set (the ``--configfile`` files merged in order, then ``--config``
    values); ``configfiles``: the ``--configfile`` paths.  When files were given they are the whole study:
    nothing else is merged under them.  Without them the default study ``default_file`` (the working
    directory's ``config/config.yaml``) is read and ``given`` (``--config`` values) applied on top.
    """
    from .util.checks import load_yaml

    given = dict(given or {})
    files = [Path(f) for f in configfiles]
    if files or default_file is None:
        source = ", ".join(map(str, files)) or "the config"
        cfg = given
        for f in files:  # Snakemake read them already, keeping the last of a key given twice: refuse that
            try:
                load_yaml(f)
            except ValueError as e:
                raise ConfigError(str(e)) from None
    else:
        source = str(default_file)
        try:
            cfg = _merge(load_yaml(default_file) or {}, given)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    units_given = "units" in cfg
    cfg = validate_config(cfg, schema_path=schema_path, source=source)
    check_study_name(cfg["study"], source)
    from .models import study_model

    repo = Path(schema_path).resolve().parents[2] if schema_path is not None else None
    spec = cfg.get("model")
    if spec and not Path(spec).exists() and repo is not None:  # a shipped model: config/models/...
        alt = repo / spec
        if alt.is_file():
            cfg["model"] = str(alt)
    resolve_glass_files(cfg, repo, source)
    m = study_model(cfg, source)  # a model file that is not valid, or not yet runnable by the study, is refused
    if not m.is_soft_sphere:
        model_study_config(cfg, source, model=m, units_given=units_given)
    return cfg


def _prepare_groups(cfg: dict):
    """(where, effective prepare section, glass group or None) of the top-level section and every glass group."""
    base = cfg.get("prepare") or {}
    yield "prepare", base, None
    for k, g in enumerate(cfg.get("glasses") or []):
        yield f"glasses[{k}].prepare", {**base, **(g.get("prepare") or {})}, g


def resolve_glass_files(cfg: dict, repo_dir=None, source: str = "config") -> dict:
    """``prepare.files`` (prepare.protocol files) as sorted absolute paths, in place: each entry a path or a glob,
    relative to the working directory, else to the repository ``repo_dir``; an entry that matches nothing is a
    ConfigError naming it, and so is a glass group whose ``count`` is not its number of files, or a file listed
    twice.  Where ``files`` is given (the top-level prepare section or a group's override) it is replaced by
    the resolved list."""
    import glob as globmod

    def resolve(entries, where):
        entries = [entries] if isinstance(entries, str) else list(entries)
        out = []
        for e in entries:
            roots = [Path.cwd()] + ([Path(repo_dir)] if repo_dir is not None else [])
            found = []
            for root in roots:
                pat = e if os.path.isabs(e) else str(root / e)
                found = sorted(globmod.glob(pat)) if globmod.has_magic(e) else ([pat] if os.path.isfile(pat) else [])
                if found:
                    break
            if not found:
                looked = "" if os.path.isabs(e) else f" (looked in {' and '.join(dict.fromkeys(map(str, roots)))})"
                raise ConfigError(f"{source}: {where}.files: {e!r} matches no file{looked}; give paths or globs of "
                                  "your LAMMPS data files, absolute or relative to the working directory")
            out += [str(Path(f).resolve()) for f in found]
        dup = sorted({f for f in out if out.count(f) > 1})
        if dup:
            raise ConfigError(f"{source}: {where}.files lists {dup[0]} twice; every glass needs its own file")
        return out

    prep = cfg.get("prepare") or {}
    if prep.get("files") is not None:
        prep["files"] = resolve(prep["files"], "prepare")
    for k, g in enumerate(cfg.get("glasses") or []):
        over = g.get("prepare") or {}
        if over.get("files") is not None:
            over["files"] = resolve(over["files"], f"glasses[{k}].prepare")
    for where, p, g in _prepare_groups(cfg):
        if g is None or p.get("protocol") != "files":
            continue
        files = p.get("files")
        if not files:
            raise ConfigError(f"{source}: {where}.protocol is files but no prepare.files are given; list the "
                              "LAMMPS data files of the glasses (paths or globs)")
        if int(g.get("count", 1)) != len(files):
            raise ConfigError(f"{source}: {where[:-len('.prepare')]} (tf {g['tf']}): count {g.get('count', 1)} but "
                              f"prepare.files gives {len(files)} file(s) ({files[0]}{', ...' if len(files) > 1 else ''}); "
                              f"set count: {len(files)}, one glass per file")
    return cfg


def model_study_config(cfg: dict, source: str = "config", model=None, units_given: bool = True) -> dict:
    """A study of another model (key ``model``): the TLS threshold is loop.tls_threshold_kelvin converted with
    the units preset (which must name the material: 'paper' is the soft spheres' scale), and loop.pretrain tables
    are refused unless loop.pretrain_any_model says they are meant.  A model in LAMMPS metal or real units fixes
    the preset itself (``units`` becomes its mapping, tlspipe.path.model_neb.model_units; a ``units`` key given
    is refused).  Changes ``cfg`` in place."""
    from .model import unit_preset

    if model is not None and model.units != "lj":
        from .path.model_neb import model_units

        if units_given:
            raise ConfigError(f"{source}: units: {model.describe()} is in LAMMPS {model.units} units, which fix hbar and "
                              "the kelvin scale; remove the key 'units'")
        u = model_units(model.units)
        cfg["units"] = {"name": u.name, "sigma_angstrom": u.sigma_angstrom, "epsilon_kelvin": u.epsilon_kelvin,
                        "mass_amu": u.mass_amu}
    if cfg["units"] == "paper":
        raise ConfigError(f"{source}: units: paper is the soft spheres' energy scale (epsilon = 4 x 119.8 K); a study "
                          "of another model in lj units says which material they stand for: units: argon (sigma "
                          "3.405 A, epsilon 119.8 K, 39.948 amu) or a mapping of sigma_angstrom, epsilon_kelvin, "
                          "mass_amu (the reference mass of the model's mass unit)")
    u = unit_preset(cfg["units"])
    cfg["tls_threshold"] = float(u.to_epsilon(cfg["loop"]["tls_threshold_kelvin"]))
    if cfg["loop"]["pretrain"] and not cfg["loop"]["pretrain_any_model"]:
        raise ConfigError(f"{source}: loop.pretrain: the tables {cfg['loop']['pretrain']} are not known to be of this "
                          f"study's model ({cfg['model']}; the shipped ones are the soft spheres'); remove them, or set "
                          "loop.pretrain_any_model: true if you mean to train on them")
    return cfg


def check_study_name(study, source: str = "config") -> str:
    """The study name, refused (ConfigError) unless it is a plain folder name: outputs go to
    results/{study}/, which '.', '..' or a path would put elsewhere."""
    from .util.checks import plain_name

    try:
        return plain_name(study, f"{source}: study", "folder name")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def write_study_config(cfg: dict, path) -> Path:
    """The resolved study config as YAML, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "# the study config as the workflow resolved it: the given file with the schema's "
                            "defaults\n" + yaml.safe_dump(cfg, sort_keys=False))
    logging.getLogger("tlspipe").info("study config written to %s", path)
    return path


def glass_table(cfg: dict) -> list[dict]:
    """The glasses of a study: name, Tf, seed (derived from the study seed, Tf and the index)."""
    out = []
    seen: dict[float, int] = {}
    for k, spec in enumerate(cfg["glasses"]):
        tf = float(spec["tf"])
        if tf in seen:
            raise ConfigError(f"glasses: Tf = {tf} is listed twice (entries {seen[tf] + 1} and {k + 1}); give one "
                              "entry per Tf with a count")
        seen[tf] = k
        for i in range(int(spec["count"])):
            seed = int(np.random.SeedSequence([int(cfg["seed"]), int(round(tf * 1e6)), i]).generate_state(1)[0])
            name = f"tf{tf_label(tf)}_g{i:03d}"
            out.append({"glass": name, "tf": tf, "seed": seed, "index": i, "prepare": dict(spec.get("prepare", {})),
                        "explore": dict(spec.get("explore", {}))})
    return out


def glass_tf(cfg: dict) -> dict[str, float]:
    """glass name -> Tf of every glass of a study (:func:`glass_table`)."""
    return {g["glass"]: g["tf"] for g in glass_table(cfg)}


def resolve_data_paths(paths, repo_dir, key: str = "loop.pretrain") -> list[str]:
    """Input files named in the config, as paths Snakemake can find.

    A relative path is taken from the working directory when it exists there, else from the tlspipe
    checkout ``repo_dir`` (so ``data/pretraining/...`` works from any ``--directory``); a file in neither
    place is a config error naming both."""
    out = []
    for p in paths:
        if os.path.isabs(p) or os.path.exists(p):
            found = p
        else:
            found = os.path.join(str(repo_dir), p)
        if not os.path.exists(found):
            raise ConfigError(f"{key}: {p!r} does not exist (looked in {os.getcwd()} and {repo_dir}); give an "
                              "absolute path or one relative to the working directory")
        out.append(found)
    return out


def section(cfg: dict, glass: dict, name: str) -> dict:
    """A config section (prepare or explore) with the glass group's overrides applied; unknown keys are named."""
    base = dict(cfg[name])
    over = glass.get(name, {})
    unknown = set(over) - set(base)
    if unknown:
        raise ConfigError(f"glasses (Tf = {glass['tf']}): unknown {name} key(s) {sorted(unknown)}; "
                          f"known: {sorted(base)}")
    base.update(over)
    return base


#: Keys of a config section that only the workflow reads: how work is split into jobs and threads.  A rule
#: never receives them in its config slice (:func:`rule_config`), so changing them reruns nothing; the
#: rules use them for ``threads:`` and the batch chunking.
WORKFLOW_ONLY = {"explore": ("workers",), "pairs": ("threads",), "neb": ("chunk",), "learn": ("threads",)}


def _lookup(cfg: dict, key: str):
    value = cfg
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"config key {key!r} does not exist (at {part!r}); see workflow/schemas/"
                              "config.schema.yaml for the keys")
        value = value[part]
    return value


def rule_config(cfg: dict, key=None, *, glass: dict | None = None, with_keys=()):
    """The slice of the study config one rule receives (the ``config_provider`` of workflow/rules/common.smk
    calls this for every rule's ``params:``).

    key: None (the whole config), a dotted key (``"neb"``, ``"loop.min_hops"``) or a mapping {name: dotted
    key} (a dict of those values).  A section comes without its :data:`WORKFLOW_ONLY` keys; ``glass`` (a row
    of :func:`glass_table`) applies that glass group's overrides of the section (prepare, explore); with_keys:
    top-level keys added to the section (``neb`` with ``units``, ``tls_threshold``: what tlspipe.path takes).
    """
    if key is None:
        return cfg
    if isinstance(key, dict):
        return {name: rule_config(cfg, k) for name, k in key.items()}
    value = section(cfg, glass, key) if glass is not None else _lookup(cfg, key)
    if isinstance(value, dict):
        drop = WORKFLOW_ONLY.get(key, ())
        value = {k: v for k, v in value.items() if k not in drop}
        value.update({k: _lookup(cfg, k) for k in with_keys})
        value = _model_slice(cfg, key, glass, value)
    return value


def _model_slice(cfg: dict, key: str, glass: dict | None, value: dict) -> dict:
    """The prepare and explore slices as the model's steps need them.  A swap-protocol prepare job does not
    receive the cooling protocol's keys (``protocol``, ``cooling``), so a soft-sphere study's params, and what
    reruns, are as they were before the protocol existed; a cooling job receives the model file and the
    exploration's T (the default T_final).  A study of another model gives its explore jobs the model file and
    the glasses' density (``glass_model``, ``density``)."""
    if key == "prepare" and "protocol" in value:
        if value["protocol"] == "swap":
            return {k: v for k, v in value.items() if k not in ("protocol", "cooling", "files")}
        ex = section(cfg, glass, "explore") if glass is not None else cfg["explore"]
        if value["protocol"] == "files":  # the job's own file, the model, its engine and the IS tolerance
            out = {"protocol": "files", "model": cfg.get("model"), "engine": "lammps" if cfg["engine"] == "lammps"
                   else "auto", "ftol": ex["refine_ftol"]}
            if glass is not None:
                out["file"] = value["files"][glass["index"]]
            return out
        return {**{k: v for k, v in value.items() if k != "files"}, "model": cfg.get("model"), "explore_T": ex["T"]}
    if key == "explore" and cfg.get("model") is not None:
        prep = section(cfg, glass, "prepare") if glass is not None else cfg["prepare"]
        density = prep["cooling"]["density"] if prep.get("protocol") == "cooling" else None
        return {**value, "glass_model": cfg["model"], "density": density}
    return value


def glass_info(cfg: dict, name: str) -> dict:
    for g in glass_table(cfg):
        if g["glass"] == name:
            return g
    raise ConfigError(f"glass {name!r} is not in the config's glasses")


def setup_logging(log_path=None, level=logging.INFO):
    """Log to the rule's log file (and stderr when there is none)."""
    handlers = [logging.FileHandler(log_path, mode="w")] if log_path else [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return logging.getLogger("tlspipe")


class LogProgress:
    """A tqdm progress bar written into the log file (plain text lines, one update every ~2%)."""

    def __init__(self, total: int, desc: str, log_path=None):
        from tqdm import tqdm

        self._fh = open(log_path, "a") if log_path else sys.stderr
        self.bar = tqdm(total=total, desc=desc, file=self._fh, mininterval=2.0, ascii=True,
                        miniters=max(total // 50, 1))

    def __call__(self, done, total=None, *extra):
        self.bar.update(done - self.bar.n)

    def close(self):
        self.bar.close()
        if self._fh is not sys.stderr:
            self._fh.close()
