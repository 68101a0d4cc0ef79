"""Save and load a fitted :class:`~tlspipe.learn.tasks.TaskModel` as a directory.

Layout of ``MODEL_DIR``::

    manifest.json          task, features, target transform, ensemble weights, config, fit summary,
                           sha256 of the training data, package + library versions
    L1_catboost.cbm        CatBoost native format
    L1_lightgbm.txt        LightGBM native text model
    L1_xgboost.ubj         XGBoost native UBJSON model
    L1_extratrees.npz      scikit-learn forest as its tree arrays (numpy .npz, no pickle)
    L2_*.*                 layer-2 refit models, same formats

Only the refit ("collapsed") models are stored.  Every file is data only (no pickle: loading a model never
runs code from it), and the manifest lists the sha256 of each; :func:`load` checks every file against it
and refuses a pickle (``.joblib``/``.pkl``), e.g. a model of an older tlspipe, saying to retrain.  The
manifest carries the sha256 of its own content (``manifest_sha256``: canonical JSON without that key), so an
edited manifest (features listed in another order, other weights or config) is refused too; its
``stack.config`` keys must be the ensemble's, and the number of features must be what every member file
was trained on (where the library records it).  The
directory is written under a temporary name and renamed when complete, so a killed run never leaves a
half-written model behind.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .members import MEMBER_CLASSES
from .stack import StackEnsemble
from .tasks import TaskModel, TaskSpec

FORMAT = "tlspipe.learn.model/2"  # 2: data-only files with sha256 sums (1 pickled ExtraTrees)
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_RETRAIN = "retrain it with `tlspipe learn fit` (in the workflow: delete the model directory and rerun)"
MANIFEST = "manifest.json"


def library_versions() -> dict[str, str]:
    import catboost
    import lightgbm
    import pandas
    import sklearn
    import xgboost

    from .. import __version__

    return {
        "tlspipe": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "xgboost": xgboost.__version__,
        "catboost": catboost.__version__,
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def save(model: TaskModel, directory: str | Path, overwrite: bool = True) -> Path:
    """Write ``model`` to ``directory`` (created; replaced when it exists and overwrite=True)."""
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} exists; pass overwrite=True or choose another --out")
    stack = model.stack
    if not stack.models_:
        raise ValueError("cannot save an unfitted model")
    tmp = directory.with_name(directory.name + ".tmp-writing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files: dict[str, dict[str, str]] = {}
    for name, member in stack.models_.items():
        fname = f"{name}.{member.ext}"
        member.save(tmp / fname)
        files[name] = {"kind": member.kind, "file": fname, "n_rounds": int(member.n_rounds_),
                       "sha256": _sha256(tmp / fname)}
    manifest = {
        "format": FORMAT,
        "task": {
            "name": model.spec.name,
            "kind": model.spec.kind,
            "target": model.spec.target,
            "log_target": model.spec.log_target,
            "weight": model.spec.weight,
            "rows": model.spec.rows,
            "prediction": (
                "probability of class 1" if model.spec.kind == "classify"
                else ("10**(ensemble output): target in its original units" if model.spec.log_target
                      else "target in its original units")
            ),
        },
        "features": model.features,
        "stack": {
            "layer1_kinds": stack.layer1_kinds_,
            "n_layers_fitted": stack.n_layers_,
            "weights": stack.weights_,
            "models": files,
            "config": stack.config,
        },
        "training_data": model.training,
        "fit_info": stack.fit_info_,
        "versions": library_versions(),
    }
    manifest = _jsonable(manifest)
    manifest["manifest_sha256"] = manifest_sha256(manifest)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def _sha256(path: Path) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_manifest(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {directory} is not a saved tlspipe learn model (run `tlspipe learn fit`)")
    try:
        from ..util.checks import json_object_pairs

        manifest = json.loads(path.read_text(), object_pairs_hook=json_object_pairs(str(path)))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); {_RETRAIN}") from None
    if manifest.get("format") != FORMAT:
        old = manifest.get("format") == "tlspipe.learn.model/1"
        raise ValueError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}"
                         + (" (an older model: its ExtraTrees members are pickles, which tlspipe no longer loads "
                            "since a pickle can run code)" if old else "") + f"; {_RETRAIN}")
    return manifest


def _check_member_file(directory: Path, info: dict) -> Path:
    """The member file of a manifest entry, refused unless it is a data file with the listed sha256."""
    path = directory / info["file"]
    if Path(info["file"]).name != info["file"]:
        raise ValueError(f"{directory / MANIFEST}: member file {info['file']!r} is not a plain file name")
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise ValueError(f"{path}: a pickle file; tlspipe never loads pickles (loading one can run any code) - "
                         f"{_RETRAIN}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} listed in {directory / MANIFEST} is missing: the model directory is incomplete")
    want, got = info.get("sha256"), _sha256(path)
    if want != got:
        raise ValueError(f"{path}: sha256 {got[:12]}... is not the {str(want)[:12]}... listed in "
                         f"{directory / MANIFEST}: the file changed after the model was saved - restore the "
                         f"directory from its source or {_RETRAIN}")
    return path


def load(directory: str | Path, n_threads: int | None = None) -> TaskModel:
    """Load a model written by :func:`save`, every file checked against the manifest's sha256 first.  Warns
    when a library version differs from the saving one."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    now = library_versions()
    diff = {k: (v, now.get(k)) for k, v in manifest.get("versions", {}).items()
            if k in ("lightgbm", "xgboost", "catboost", "scikit-learn") and now.get(k) != v}
    if diff:
        warnings.warn(f"{directory}: saved with other library versions (saved, now): {diff}", stacklevel=2)
    check_manifest(directory, manifest)
    t = manifest["task"]
    spec = TaskSpec(t["name"], t["kind"], t["target"], bool(t["log_target"]), t["weight"], t["rows"])
    st = manifest["stack"]
    cfg = dict(st["config"])
    if n_threads is not None:
        cfg["n_threads"] = int(n_threads)
    try:
        stack = StackEnsemble(task_kind=spec.kind, **cfg)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{directory / MANIFEST}: stack.config is not valid ({e}); {_RETRAIN}") from None
    stack.layer1_kinds_ = list(st["layer1_kinds"])
    stack.n_layers_ = int(st["n_layers_fitted"])
    stack.weights_ = {k: float(v) for k, v in st["weights"].items()}
    stack.fit_info_ = manifest.get("fit_info", {})
    for name, info in st["models"].items():
        cls = MEMBER_CLASSES.get(info["kind"])
        if cls is None:
            raise ValueError(f"{directory / MANIFEST}: unknown model kind {info['kind']!r}; {_RETRAIN}")
        member = cls(spec.kind, cfg["hyperparameters"].get(info["kind"]), cfg["n_threads"], cfg["seed"])
        member.load_model(_check_member_file(directory, info))
        _check_n_features(directory, name, member, len(manifest["features"]) + (
            len(stack.layer1_kinds_) if name.startswith("L2_") else 0))
        stack.models_[name] = member
    return TaskModel(spec, manifest["features"], stack, manifest.get("training_data", {}))


def manifest_sha256(manifest: dict) -> str:
    """sha256 of a manifest's content: canonical JSON (sorted keys, no spaces) of everything but its own
    ``manifest_sha256``."""
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_manifest(directory: Path, manifest: dict) -> None:
    """Refuse a manifest that changed after the model was saved, or whose features or ``stack.config`` do not
    fit the ensemble; every message names the manifest and the fix.  Pickled members are refused first."""
    import inspect

    path = Path(directory) / MANIFEST
    for info in manifest.get("stack", {}).get("models", {}).values():
        if Path(str(info.get("file", ""))).suffix.lower() in _PICKLE_SUFFIXES:
            _check_member_file(Path(directory), info)  # the message of a pickle
    want = manifest.get("manifest_sha256")
    if want is None:
        raise ValueError(f"{path}: no manifest_sha256 (saved before tlspipe checked its manifests), so an edit "
                         f"of its features or weights could not be told; {_RETRAIN}")
    if want != manifest_sha256(manifest):
        raise ValueError(f"{path}: its content does not match its manifest_sha256: the manifest changed after "
                         f"the model was saved (e.g. its features listed in another order) - restore the "
                         f"directory from its source or {_RETRAIN}")
    feats = manifest.get("features")
    if not (isinstance(feats, list) and feats and all(isinstance(f, str) for f in feats)
            and len(set(feats)) == len(feats)):
        raise ValueError(f"{path}: 'features' must be a list of distinct column names, got {feats!r}; {_RETRAIN}")
    cfg = manifest.get("stack", {}).get("config")
    known = set(inspect.signature(StackEnsemble).parameters) - {"task_kind"}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: 'stack.config' must be a mapping of {sorted(known)}; {_RETRAIN}")
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"{path}: unknown stack.config key(s) {unknown}; known: {sorted(known)} - {_RETRAIN}")
    for key in ("hyperparameters", "n_threads", "seed"):
        if key not in cfg:
            raise ValueError(f"{path}: stack.config lacks {key!r}; {_RETRAIN}")


def _n_features(member) -> int | None:
    """The number of input columns a loaded member was trained on, when its file records it."""
    m = getattr(member, "model", None)
    for probe in (lambda: member.arrays.n_features, lambda: m.num_feature(), lambda: m.num_features(),
                  lambda: len(m.feature_names_)):
        try:
            n = probe()
        except Exception:  # noqa: BLE001 - this member's library has another API
            continue
        if isinstance(n, (int, np.integer)) and n > 0:
            return int(n)
    return None


def _check_n_features(directory: Path, name: str, member, want: int) -> None:
    got = _n_features(member)
    if got is not None and got != want:
        raise ValueError(f"{directory / MANIFEST}: member {name} was trained on {got} columns but the manifest "
                         f"gives it {want} (its features plus layer-1 predictions for layer 2); {_RETRAIN}")
