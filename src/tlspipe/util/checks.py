"""Checks of input files and values shared by several commands: YAML and JSON with a key given twice,
names that must stay inside a directory, numbers that must be positive or bounded.

Every check raises ValueError (or a subclass given by the caller) whose message names the file or key and
the fix, so that bad input is refused rather than silently read one way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml


class DuplicateKeyError(ValueError):
    """A mapping of a YAML or JSON file gives the same key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping with a key given twice (PyYAML keeps the last silently)."""

    source = "YAML"

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' merge keys are YAML's own repetition
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML itself reports it below
                    continue
                if first is not None:
                    raise DuplicateKeyError(
                        f"{self.source}: key {key!r} is given twice (lines {first} and {key_node.start_mark.line + 1})"
                        f"; YAML would silently keep only the last - keep one, and merge what the two held")
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(path, text: str | None = None):
    """The content of a YAML (or JSON) file, refusing a key given twice in any mapping (DuplicateKeyError
    naming the file and both lines); a syntax error is a ValueError naming the file.  ``text``: the file's
    content when already read."""
    path = Path(path)
    if text is None:
        text = path.read_text()
    loader = _UniqueKeyLoader(text)
    loader.source = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e}); fix the file") from None
    finally:
        loader.dispose()


def json_object_pairs(source: str):
    """An ``object_pairs_hook`` for json.loads that refuses a key given twice, naming ``source``."""

    def hook(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise DuplicateKeyError(f"{source}: key {k!r} is given twice in one object; JSON readers keep only "
                                        "the last - keep one")
            out[k] = v
        return out

    return hook


def plain_name(value, key: str, what: str = "name", fix: str = "give a name such as 'default' or 'run1'") -> str:
    """``value`` when it is a plain file name (no directory part, not '.' or '..', not empty): a name that is
    joined to a directory and must stay inside it.  Else ValueError naming ``key``."""
    s = str(value)
    if s in ("", ".", "..") or "/" in s or "\\" in s or Path(s).name != s or Path(s).is_absolute():
        raise ValueError(f"{key}: {value!r} is not a plain {what} (no '/', not '.' or '..'): it would put files "
                         f"outside their folder; {fix}")
    return s


def positive(value, key: str, unit: str = "") -> float:
    """``value`` as a finite float > 0, else ValueError naming ``key``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number > 0{unit}, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{key} must be a number > 0{unit}, got {value!r}")
    return x


def read_json(path, what: str):
    """json.loads of a file refusing duplicate keys (errors name the file; ``what``: what the file holds)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(), object_pairs_hook=json_object_pairs(str(path)))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); give a JSON object of {what}") from None


def check_zero_one(values, where: str, column: str = "is_dw") -> None:
    """Refuse a label column that is not 0/1 (NaN: unknown): "yes"/"no" text, which numpy reads as true both,
    or other numbers.  ``where`` names the file."""
    import numpy as np
    import pandas as pd

    s = pd.Series(values)
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        bad = sorted({str(v) for v in s.dropna().unique()})[:5]
        if not bad:
            return
        raise ValueError(f"{where}: column '{column}' holds {bad}, not numbers; give 1 (double well) or 0 (not "
                         "one), empty for unknown")
    v = s.astype(float).to_numpy()
    bad = np.unique(v[np.isfinite(v) & (v != 0) & (v != 1)])
    if bad.size:
        raise ValueError(f"{where}: column '{column}' holds {bad[:5].tolist()}; give 1 (double well) or 0 (not "
                         "one), empty for unknown")
