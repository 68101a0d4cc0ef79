"""NEB + Schroedinger for one pair of inherent structures of a glass, with forces from tlspipe.engine.

Reduced units: energies epsilon, lengths sigma, masses 1.  The band lives in the full 3N-dimensional space;
positions are unwrapped (the second IS is brought to the minimum image of the first, particle by particle,
before interpolation) and the engine takes the minimum image in its force loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import model
from ..engine import ForceField
from ..engine.potential import band_energy_forces
from ..util.periodic import box3, minimum_image
from .neb import NEBResult, run_neb
from .options import GlassOptions, PairOptions
from .profile import ProfileAnalysis, analyse_path

#: The defaults of :class:`~tlspipe.path.options.GlassOptions` (where each is explained), as a flat dict.
GLASS_DEFAULTS = GlassOptions().as_dict()


def unwrap_to(x_b: np.ndarray, x_a: np.ndarray, box) -> np.ndarray:
    """x_b moved particle by particle to the periodic image nearest to x_a (minimum-image displacements)."""
    dx = minimum_image(np.asarray(x_b, np.float64) - np.asarray(x_a, np.float64), box3(box))
    return np.asarray(x_a, np.float64) + dx


def max_particle_force(f: np.ndarray) -> float:
    """max_i |F_i| of forces (N, 3)."""
    return float(np.sqrt(np.max(np.sum(np.asarray(f) ** 2, axis=1))))


class FullBand:
    """Energies and forces of K images of the full system, evaluated in one compiled loop.

    A short band's images share one Verlet list, and the force loop runs over the images in SIMD lanes
    (:func:`tlspipe.engine.potential.band_energy_forces_shared`).  The list is built at a reference (the
    middle of each particle's range over the images) and gives each particle an allowance: its largest
    distance from the reference in any image plus ``shared_margin`` / 2.  A pair is listed when its
    reference distance is below the cutoff plus both allowances, so it holds every pair within the cutoff in
    any image until a particle leaves its allowance (then it is rebuilt).  Particles that hardly move keep a
    small allowance, and the list is shorter than a per-image list.  When the largest allowance would exceed
    ``max_shared_skin`` / 2 (a long path) each image has its own Verlet list instead
    (:func:`tlspipe.engine.potential.band_energy_forces`).  The two agree to rounding (the order of the sums
    over pairs).  A non-finite energy is returned as such (run_neb reports the band as diverged)."""

    def __init__(self, diameters, box, n_interior: int, skin: float = 0.3, shared: bool = True,
                 shared_margin: float = 0.05, max_shared_skin: float = 0.6):
        from ..engine import as_box

        self.diam = np.ascontiguousarray(diameters, np.float64)
        self.box = as_box(box)
        self.n = self.diam.size
        self.k = int(n_interior)
        self.skin = float(skin)
        self.n_calls = 0
        self.n_builds = 0
        self._alloc(12 * self.n)
        self.E = np.empty(self.k)
        self.F = np.empty((self.k, 3 * self.n))
        self.shared = bool(shared)
        self.shared_margin = float(shared_margin)
        self.max_shared_skin = float(max_shared_skin)
        self.n_shared_calls = 0
        lanes = 8 * ((self.k + 7) // 8)  # a multiple of the SIMD width (8 doubles); extra lanes repeat an image
        self.XT = np.empty((self.n, 3, lanes))
        self.FT = np.empty((self.n, 3, lanes))
        self.ET = np.empty(lanes)
        self.sref = np.zeros((self.n, 3))
        self.allow2 = np.full(self.n, -1.0)  # squared allowances; < 0: no shared list yet
        self.slist = None  # (pi, pj, ps, sh, npairs) of the shared list

    def bind_output(self, E, F):
        """Write energies and forces into E (K,) and F (K, 3N) (C-contiguous views of the caller's arrays)."""
        if E.shape != (self.k,) or F.shape != (self.k, 3 * self.n) or not (
                E.flags.c_contiguous and F.flags.c_contiguous and E.dtype == F.dtype == np.float64):
            raise ValueError("bind_output needs C-contiguous float64 arrays of shapes (K,) and (K, 3N)")
        self.E, self.F = E, F

    def _alloc(self, cap: int):
        k = self.k
        self.PI = np.empty((k, cap), np.int32)
        self.PJ = np.empty((k, cap), np.int32)
        self.PS = np.empty((k, cap))
        self.SH = np.empty((k, cap, 3))
        self.NP = np.full(k, -1, np.int64)
        self.XREF = np.empty((k, self.n, 3))

    def _shared_call(self, X) -> bool:
        """Energies and forces through the shared list; False when the band is too spread for one."""
        from ..engine.potential import band_energy_forces_shared, band_pack, band_unpack, build_pairs

        if not band_pack(X, self.XT, self.sref, self.allow2) <= 0.0:
            Y = X.reshape(self.k, self.n, 3)
            ref = 0.5 * (Y.min(axis=0) + Y.max(axis=0))
            allow = np.sqrt(np.max(np.sum((Y - ref) ** 2, axis=2), axis=0)) + 0.5 * self.shared_margin
            skin = 2.0 * float(allow.max())
            if not skin <= self.max_shared_skin:  # too spread (or not finite): one list per image from now on
                self.shared = False
                return False
            pi, pj, ps, sh, m = build_pairs(np.ascontiguousarray(ref), self.diam, self.box, skin, 12 * self.n)
            pi, pj, ps, sh = pi[:m], pj[:m], ps[:m], sh[:m]
            r = np.sqrt(np.sum((ref[pi] - ref[pj] - sh) ** 2, axis=1))
            keep = r < model.RC_FACTOR / np.sqrt(ps) + allow[pi] + allow[pj]
            self.slist = (np.ascontiguousarray(pi[keep]), np.ascontiguousarray(pj[keep]),
                          np.ascontiguousarray(ps[keep]), np.ascontiguousarray(sh[keep]), int(keep.sum()))
            self.sref[:] = ref
            self.allow2[:] = allow**2
            self.n_builds += 1
        pi, pj, ps, sh, m = self.slist
        band_energy_forces_shared(self.XT, pi, pj, ps, sh, m, self.ET, self.FT)
        self.E[:] = self.ET[: self.k]
        band_unpack(self.FT, self.F)
        self.n_shared_calls += 1
        return True

    def __call__(self, X):
        X = np.ascontiguousarray(X, np.float64)
        if X.shape != (self.k, 3 * self.n):
            raise ValueError(f"band of shape {X.shape}, expected ({self.k}, {3 * self.n})")
        self.n_calls += self.k
        if self.shared and self._shared_call(X):
            return self.E, self.F
        while True:
            r = band_energy_forces(X, self.diam, self.box, self.skin, self.PI, self.PJ, self.PS, self.SH,
                                   self.NP, self.XREF, self.E, self.F)
            if r >= 0:
                break
            self._alloc(2 * self.PI.shape[1])  # a list outgrew its row: larger rows, all rebuilt
        self.n_builds += r
        return self.E, self.F


@dataclass
class PairResult:
    status: str
    e_qs: float = math.nan  # epsilon
    barrier: float = math.nan  # epsilon
    delta_e: float = math.nan  # |V(1) - V(0)|, epsilon
    d: float = math.nan  # path length, sigma
    delta0: float = math.nan  # epsilon
    n_iter: int = 0
    seconds: float = 0.0
    neb: NEBResult | None = None
    analysis: ProfileAnalysis | None = None
    info: dict = field(default_factory=dict)


class EarlyNotDW:
    """Stop rule for bands that cannot become a double well.

    Relaxing a band lowers the energies of its images, so once interior images lie below *both* ends by
    more than ``margin`` (epsilon) at two checks ``every`` iterations apart (and not before ``min_iter``),
    the minimum energy path has an intermediate minimum: the pair is not a double well, and converging the
    band further (often thousands of iterations for such long, multi-well paths) would not change that.
    """

    def __init__(self, min_iter: int = 100, margin: float = 1e-3, every: int = 50):
        self.min_iter, self.margin, self.every = int(min_iter), float(margin), int(every)
        self.hits = 0

    def __call__(self, it, X, E, fmax):
        if it < self.min_iter or it % self.every:
            return None
        below = E[1:-1].min() < min(E[0], E[-1]) - self.margin
        self.hits = self.hits + 1 if below else 0
        return "early not_dw" if self.hits >= 2 else None


def neb_pair(x_a, x_b, diameters, box, hbar: float, mass: float = model.MASS, *,
             options: PairOptions | None = None, **overrides) -> PairResult:
    """Minimum energy path, double-well test, E_qs, barrier, Delta0 for IS x_a -> x_b (each (N, 3)).

    options: :class:`~tlspipe.path.options.PairOptions` (default: the defaults); overrides: some of its
    flat keys (those of NEB_DEFAULTS, PROFILE_DEFAULTS and GLASS_DEFAULTS) as keywords.  Never raises for a
    physical failure: the result's status is then 'failed: <reason>'.  A band stopped by
    :class:`EarlyNotDW` gives status 'not_dw' with barrier and d NaN (they would come from an unconverged
    band); so does a band that did not converge ('failed: NEB not converged').
    """
    t0 = time.perf_counter()
    opts = PairOptions.of(options, **overrides)
    g = opts.glass
    diam = np.ascontiguousarray(diameters, np.float64)
    n = diam.size
    box = box3(box)
    x_a = np.array(x_a, np.float64).reshape(n, 3)
    x_b = unwrap_to(np.asarray(x_b, np.float64).reshape(n, 3), x_a, box)
    if g.remove_drift:  # same centre of mass at both ends (required by the translation-free band)
        x_b -= np.mean(x_b - x_a, axis=0)
    ff = ForceField(diam, box, skin=g.skin)
    e_a, f_a = ff.energy_forces(x_a)
    e_b, f_b = ff.energy_forces(x_b)
    fa, fb = max_particle_force(f_a), max_particle_force(f_b)
    info = {"endpoint_max_force": (fa, fb)}
    if max(fa, fb) > g.endpoint_ftol:
        return PairResult("failed: endpoint not a minimum", delta_e=abs(e_b - e_a),
                          seconds=time.perf_counter() - t0, info=info)
    if np.max(np.abs(x_b - x_a)) == 0.0:
        return PairResult("failed: identical endpoints", seconds=time.perf_counter() - t0, info=info)
    m = int(opts.neb.images)
    band0 = None
    n_iter = 0
    climb_only = False
    if g.active:
        from .active import active_neb

        band0, act_info = active_neb(x_a, x_b, diam, box, e_a, e_b, g, opts.neb)
        info.update(act_info)
        n_iter += act_info.get("active_iter", 0)
        climb_only = band0 is not None and bool(act_info.get("active_converged"))
    full = FullBand(diam, box, m - 2, skin=g.skin)
    stop = EarlyNotDW(g.early_min_iter, g.early_margin) if g.early_not_dw else None
    res = run_neb(x_a.ravel(), x_b.ravel(), full, e_a, e_b, atom_dim=3, band=band0, climb_only=climb_only,
                  remove_translation=True, stop_check=stop, options=opts.neb)
    n_iter += res.n_iter
    info["full_iter"] = res.n_iter
    info["neb_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = PairResult("", neb=res, n_iter=n_iter, info=info)
    if res.reason == "early not_dw":
        out.status = "not_dw"
        out.delta_e = abs(e_b - e_a)
        info["early_stop"] = True
    elif not res.converged:  # barrier and d of an unconverged band would mislead: left NaN
        out.status = f"failed: NEB {res.reason or 'not converged'}"
        out.delta_e = abs(e_b - e_a)
    else:
        ana = analyse_path(res.band, res.energy, lambda r: ff.energy(r.reshape(n, 3)), hbar, mass, opts.profile)
        out.analysis = ana
        out.status = ana.status
        out.e_qs, out.barrier, out.delta_e, out.d, out.delta0 = ana.e_qs, ana.barrier, ana.delta_e, ana.d, ana.delta0
    info["analysis_seconds"] = time.perf_counter() - t1
    out.seconds = time.perf_counter() - t0
    return out
