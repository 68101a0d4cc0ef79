"""The options of the exact-path calculation, resolved once into typed, frozen records.

* :class:`NEBOptions`: the band and its optimiser (:func:`tlspipe.path.neb.run_neb`);
* :class:`ProfileOptions`: the analysis of V(xi) (:func:`tlspipe.path.profile.analyse_path`);
* :class:`GlassOptions`: what only a glass needs (end-point test, drift, neighbour lists, the active band,
  the early stop; :func:`tlspipe.path.glass.neb_pair`);
* :class:`PairOptions`: the three together, what one pair takes;
* :class:`PathOptions`: a pair's options plus the unit preset and the TLS threshold, what a batch of pairs
  (``tlspipe neb``, the workflow's ``neb`` rule) takes.

Outside, options are one flat mapping (a ``--config`` file with the flags given on the command line, the
``neb`` section of a study config, keyword arguments): ``from_dict`` turns it into these records, naming any
key it does not know, and ``as_dict`` gives the flat mapping back.  Units: epsilon, sigma, masses 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


class _FlatOptions:
    """A frozen dataclass of options, built from and turned back into a flat mapping."""

    _what: ClassVar[str] = ""  # what the options are, for the unknown-key error

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def _unknown(cls, unknown: list[str]) -> Exception:
        return TypeError(f"unknown {cls._what} options {unknown}; known: {sorted(cls.keys())}")

    @classmethod
    def from_dict(cls, options=None):
        """The options of a mapping; every key must be one of :meth:`keys` (TypeError naming the others)."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(cls.keys()))
        if unknown:
            raise cls._unknown(unknown)
        return cls._build(options)

    @classmethod
    def _build(cls, options: dict):
        return cls(**options)

    @classmethod
    def of(cls, options=None, **overrides):
        """``options`` (default: the defaults) with the keyword ``overrides`` (validated as in from_dict)."""
        if options is None:
            return cls.from_dict(overrides)
        return type(options).from_dict({**options.as_dict(), **overrides}) if overrides else options

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.keys()}


@dataclass(frozen=True)
class NEBOptions(_FlatOptions):
    """The band and its relaxation (see :mod:`tlspipe.path.neb` for the method)."""

    _what: ClassVar[str] = "NEB"

    images: int = 40  # images including both ends
    method: str = "string"  # 'string': equal-arc-length reparametrisation, no springs; 'neb': springs
    spring: float = 1.0  # kappa, epsilon / sigma^2 (the paper's value; method 'neb' only)
    spring_ref_length: float = 1.0  # sigma: kappa_eff = kappa * clip((ref / d0)^2, 1, spring_max / kappa)
    spring_max: float = 100.0  # epsilon / sigma^2
    tol: float = 1e-4  # epsilon / sigma: largest per-particle NEB force at convergence (scaled below)
    tol_ref_length: float = 1.0  # sigma: tol_eff = tol * min(1, d0 / tol_ref_length)
    max_iter: int = 5000  # iterations, both stages together
    optimiser: str = "lbfgs"  # 'lbfgs' (global), 'quickmin' (per image), 'fire' (global FIRE 2.0), 'sd'
    lbfgs_memory: int = 5  # pairs kept; 10 and 20 need as many iterations on glass pairs, each ~15% dearer
    lbfgs_h0: float = 0.005  # sigma^2/epsilon: first (gradient) step length per unit force; < 2 / max curvature
    climb: bool = True  # climbing-image stage after the plain band converged
    dt: float = 0.02  # initial (fire) or fixed (quickmin, sd: use <= 0.005 for a glass) time step
    dt_max: float = 0.05  # fire only
    dt_min: float = 1e-5
    n_delay: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha0: float = 0.1
    f_alpha: float = 0.99
    max_move: float = 0.05  # sigma per particle per step


@dataclass(frozen=True)
class ProfileOptions(_FlatOptions):
    """The analysis of the profile V(xi) (see :mod:`tlspipe.path.profile`)."""

    _what: ClassVar[str] = "profile"

    dw_abs_tol: float = 1e-6  # epsilon: an extremum counts only with a prominence above max(abs, rel * barrier)
    dw_rel_tol: float = 1e-3  # fraction of the classical barrier
    grid_points: int = 2001  # coarse grid of the Schroedinger solve (a second grid of 2n-1 is used for Richardson)
    extension_margin: float = 1.0  # extend until V >= V_top + margin * max(barrier, extension_min_height)
    extension_min_height: float = 0.05  # epsilon
    extension_max_points: int = 400  # per side
    edge_weight_tol: float = 1e-8  # largest probability of the two levels within 2% of the grid edges
    extension_attempts: int = 12  # the wall margin doubles after each attempt whose levels reach the edges


@dataclass(frozen=True)
class GlassOptions(_FlatOptions):
    """What a pair of a glass needs beyond the band and the profile (see :func:`tlspipe.path.glass.neb_pair`)."""

    _what: ClassVar[str] = "glass"

    endpoint_ftol: float = 1e-3  # epsilon/sigma: an end with max_i |F_i| above this is not a minimum (a band pinned to a non-stationary end slides downhill)
    remove_drift: bool = True  # subtract the mean displacement (a rigid translation) between the two IS
    skin: float = 0.3  # sigma, Verlet skin of the per-image neighbour lists
    active: bool = False  # first relax a band of the moving particles only, then finish on the full band
    active_disp: float = 1e-3  # sigma: particles displaced more than this between the ends are mobile
    active_shell: float = 1.0  # sigma: ... and all particles within this distance of a mobile one
    early_not_dw: bool = True  # stop a band early once images lie well below both ends (see neb_pair)
    early_min_iter: int = 100  # ... not before this many iterations
    early_margin: float = 1e-3  # epsilon: ... by more than this, at two checks 50 iterations apart


_PARTS = (("neb", NEBOptions), ("profile", ProfileOptions), ("glass", GlassOptions))


@dataclass(frozen=True)
class PairOptions(_FlatOptions):
    """Everything one pair takes: the band, the profile analysis and the glass options."""

    _what: ClassVar[str] = "pair"

    neb: NEBOptions = field(default_factory=NEBOptions)
    profile: ProfileOptions = field(default_factory=ProfileOptions)
    glass: GlassOptions = field(default_factory=GlassOptions)

    @classmethod
    def _own_keys(cls) -> tuple[str, ...]:
        """The flat keys that are fields of this record itself (not of a part)."""
        return tuple(f.name for f in fields(cls) if f.name not in dict(_PARTS))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(k for _, part in _PARTS for k in part.keys()) + cls._own_keys()

    @classmethod
    def _unknown(cls, unknown: list[str]) -> Exception:
        return TypeError(f"unknown options {unknown}; known: {sorted(cls.keys())}")

    @classmethod
    def _build(cls, options: dict):
        """Each part from its own keys of the flat mapping; the rest are fields of this record."""
        parts = {name: part(**{k: options.pop(k) for k in part.keys() if k in options}) for name, part in _PARTS}
        return cls(**parts, **options)

    @property
    def pair(self) -> PairOptions:
        """The options one pair takes (the band, the profile, the glass)."""
        return PairOptions(self.neb, self.profile, self.glass)

    def as_dict(self) -> dict[str, Any]:
        return {**self.neb.as_dict(), **self.profile.as_dict(), **self.glass.as_dict(),
                **{k: getattr(self, k) for k in self._own_keys()}}


#: most images a band may have (images = 40 in the paper; memory and time grow linearly with it)
MAX_IMAGES = 1000


@dataclass(frozen=True)
class PathOptions(PairOptions):
    """The options of a batch of pairs: a pair's, the unit preset and the TLS threshold.  Validated when built:
    the unit preset must exist and a band needs at least 3 and at most :data:`MAX_IMAGES` images."""

    _what: ClassVar[str] = "exact-path"

    units: Any = "paper"  # unit preset (model.UNIT_PRESETS) or a mapping sigma_angstrom/epsilon_kelvin/mass_amu
    tls_threshold: float = 0.0015  # epsilon: a DW with E_qs below this is a TLS (reported in the log only)

    def __post_init__(self):
        from .. import model

        model.unit_preset(self.units)  # validates
        if int(self.neb.images) < 3:
            raise ValueError(f"images={self.neb.images}: a band needs at least 3 images")
        if int(self.neb.images) > MAX_IMAGES:
            raise ValueError(f"images={self.neb.images}: at most {MAX_IMAGES} images (memory grows with images x "
                             f"particles: 10^6 images of 1500 particles need ~67 GiB); the paper's bands have 40")

    @classmethod
    def _unknown(cls, unknown: list[str]) -> Exception:
        return ValueError(f"unknown exact-path option(s) {unknown}; known: {sorted(cls.keys())}")

    @property
    def hbar(self) -> float:
        from .. import model

        return model.unit_preset(self.units).hbar

    def physics(self) -> dict[str, Any]:
        """Every option that changes a number: a pair's options and the unit preset (not tls_threshold, which
        only counts)."""
        return {**self.pair.as_dict(), "units": self.units}

