"""NEB + Schroedinger for a pair of inherent structures of any model, through the engine interface, in
mass-weighted coordinates.

The band lives in q = sqrt(m_i / m_u) x_i (m_u: the unit of mass of the model's units, 1 in reduced units),
with forces -dV/dq = F_i / sqrt(m_i / m_u) from :meth:`Backend.energy_forces_batch` (all interior images in
one call: native soft spheres, native Lennard-Jones or LAMMPS).  The arc length of the path is then the
mass-weighted one, so the 1D Schroedinger equation along it has the mass m_u whatever the masses of the
particles, and E_qs is right for unequal masses.  With equal masses m_u = m this is the plain NEB of
:func:`tlspipe.path.glass.neb_pair` scaled by sqrt(m).

Differences from :func:`~tlspipe.path.glass.neb_pair` (the soft-sphere route the study runs): L-BFGS's first
step ``lbfgs_h0`` is lowered to 1 / (largest curvature of the model at the first end, :func:`max_curvature`)
when the option's value exceeds it (Kob-Andersen needs ~5e-4 where the soft spheres take 5e-3: with the
soft spheres' value its bands diverge); no active-
particle stage (it uses the soft-sphere kernels); the drift removed between the ends is the mass-weighted
one (the centre of mass is kept); the rigid-translation projection of the band force is applied when all
masses are equal (with unequal masses the true translation mode is sqrt(m_i) t, to which the band force is
already orthogonal because the forces sum to zero).  Everything else (string method, climbing image,
L-BFGS, early stop of non-double wells, profile analysis) is the same code with the same options.

Units: energies in the model's energy unit, lengths in its length unit; ``hbar`` must be the reduced Planck
constant in those units with the mass unit m_u (:func:`model_units`).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..model import UnitPreset
from ..util.periodic import minimum_image
from .glass import EarlyNotDW, PairResult, max_particle_force
from .neb import run_neb
from .options import PairOptions
from .profile import analyse_path

#: LAMMPS units styles whose energy, length and mass units map onto a UnitPreset (sigma in angstrom,
#: epsilon / k_B in kelvin, mass in amu); 'lj' needs the user's own sigma, epsilon and mass
_LAMMPS_UNITS = {
    "metal": (1.0, 1.602176634e-19 / 1.380649e-23, 1.0),  # angstrom, eV, g/mol
    "real": (1.0, 4184.0 / 6.02214076e23 / 1.380649e-23, 1.0),  # angstrom, kcal/mol, g/mol
}


#: TLS threshold of the NEB of other models: a double well with E_qs below this many kelvin is a TLS
TLS_THRESHOLD_KELVIN = 1.0


def model_units(units: str, sigma_angstrom=None, epsilon_kelvin=None, mass_amu=None) -> UnitPreset:
    """The unit preset of a model's LAMMPS ``units``: metal and real are fixed; lj takes the user's sigma
    (angstrom), epsilon / k_B (kelvin) and unit mass (amu), e.g. argon's 3.405, 119.8, 39.948."""
    if units in _LAMMPS_UNITS:
        s, e, m = _LAMMPS_UNITS[units]
        return UnitPreset(units, s, e, m)
    if units == "lj":
        if None in (sigma_angstrom, epsilon_kelvin, mass_amu):
            raise ValueError("a model in LAMMPS lj units needs sigma_angstrom, epsilon_kelvin and mass_amu (the "
                             "material its reduced units stand for) to set hbar and the kelvin scale")
        return UnitPreset("lj", float(sigma_angstrom), float(epsilon_kelvin), float(mass_amu))
    raise ValueError(f"LAMMPS units '{units}' are not mapped to hbar yet; use lj, metal or real")


class MassWeightedBand:
    """band_energy_forces(Q) of run_neb: interior images in mass-weighted coordinates (K, 3N) -> (E (K,),
    F_q (K, 3N)), one batch call of the backend per band."""

    def __init__(self, backend, masses):
        self.be = backend
        self.w = np.sqrt(np.asarray(masses, np.float64)).reshape(-1, 1)  # sqrt(m_i / m_u)
        self.n = self.w.size
        self.n_calls = 0

    def to_x(self, q):
        return np.asarray(q, np.float64).reshape(-1, self.n, 3) / self.w

    def __call__(self, Q):
        X = self.to_x(Q)
        E, F = self.be.energy_forces_batch(X)
        self.n_calls += X.shape[0]
        return E, (F / self.w).reshape(X.shape[0], 3 * self.n)

    def energy(self, q) -> float:
        return float(self.be.energy_forces(self.to_x(q)[0])[0])


def max_curvature(backend, x, w, n_iter: int = 30, eps: float = 1e-6, seed: int = 0) -> float:
    """Largest eigenvalue of the mass-weighted Hessian W^-1/2 H W^-1/2 at x (a minimum), by power iteration on
    finite-difference Hessian-vector products (n_iter + 1 force calls); an estimate from below."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=x.shape)
    v /= np.linalg.norm(v)
    f0 = backend.energy_forces(x)[1]
    lam = 0.0
    for _ in range(n_iter):
        hv = (f0 - backend.energy_forces(x + eps * v / w)[1]) / eps / w
        lam = float((v * hv).sum())
        v = hv / np.linalg.norm(hv)
    return lam


def neb_pair_backend(x_a, x_b, backend, masses, hbar: float, *, options: PairOptions | None = None,
                     **overrides) -> PairResult:
    """Minimum energy path, double-well test, E_qs, barrier and Delta0 for IS x_a -> x_b (each (N, 3)) of the
    backend's model (module docstring); options as for :func:`tlspipe.path.glass.neb_pair` (the
    ``active`` stage is not run).  ``d`` is the mass-weighted path length (length x sqrt(mass / m_u))."""
    t0 = time.perf_counter()
    opts = PairOptions.of(options, **overrides)
    g = opts.glass
    masses = np.asarray(masses, np.float64).reshape(-1)
    n = masses.size
    box = backend.box
    x_a = np.array(x_a, np.float64).reshape(n, 3)
    x_b = x_a + minimum_image(np.asarray(x_b, np.float64).reshape(n, 3) - x_a, box)
    if g.remove_drift:  # the same centre of mass at both ends
        x_b -= (masses[:, None] * (x_b - x_a)).sum(0) / masses.sum()
    e_a, f_a = backend.energy_forces(x_a)
    e_b, f_b = backend.energy_forces(x_b)
    fa, fb = max_particle_force(f_a), max_particle_force(f_b)
    info = {"endpoint_max_force": (fa, fb), "backend": backend.name}
    if max(fa, fb) > g.endpoint_ftol:
        return PairResult("failed: endpoint not a minimum", delta_e=abs(e_b - e_a),
                          seconds=time.perf_counter() - t0, info=info)
    if np.max(np.abs(x_b - x_a)) == 0.0:
        return PairResult("failed: identical endpoints", seconds=time.perf_counter() - t0, info=info)
    band = MassWeightedBand(backend, masses)
    w = band.w
    # L-BFGS's first step must stay below 2 / (largest curvature); the default suits the soft spheres, a
    # stiffer model (Lennard-Jones: ~10x) needs a smaller one, taken from the model at the first end
    lam = max_curvature(backend, x_a, w)
    info["max_curvature"] = lam
    if opts.neb.lbfgs_h0 * lam > 1.0:
        opts = PairOptions.of(opts, lbfgs_h0=1.0 / lam)
    info["lbfgs_h0"] = opts.neb.lbfgs_h0
    stop = EarlyNotDW(g.early_min_iter, g.early_margin) if g.early_not_dw else None
    equal = bool(np.all(masses == masses[0]))
    res = run_neb((x_a * w).ravel(), (x_b * w).ravel(), band, e_a, e_b, atom_dim=3, remove_translation=equal,
                  stop_check=stop, options=opts.neb)
    info["full_iter"] = res.n_iter
    info["force_calls"] = band.n_calls
    out = PairResult("", neb=res, n_iter=res.n_iter, info=info)
    if res.reason == "early not_dw":
        out.status = "not_dw"
        out.delta_e = abs(e_b - e_a)
    elif not res.converged:
        out.status = f"failed: NEB {res.reason or 'not converged'}"
        out.delta_e = abs(e_b - e_a)
    else:
        ana = analyse_path(res.band, res.energy, band.energy, hbar, 1.0, opts.profile)
        out.analysis = ana
        out.status = ana.status
        out.e_qs, out.barrier, out.delta_e, out.d, out.delta0 = ana.e_qs, ana.barrier, ana.delta_e, ana.d, ana.delta0
    out.seconds = time.perf_counter() - t0
    return out


def run_model_pairs(store_path, pairs, glass_model, units: UnitPreset, engine: str = "auto",
                    options: PairOptions | None = None, **overrides):
    """NEB results (DataFrame: is_a, is_b, species_1..3 (atom types of the three most displaced particles, the
    most displaced first), status, e_qs, e_qs_kelvin, barrier, delta_e, d, delta0, n_iter, seconds, backend)
    for the pairs (DataFrame or CSV/Parquet with is_a, is_b) of a store of ``glass_model``
    (refused when the store holds another model), through :func:`neb_pair_backend`."""
    import pandas as pd

    from ..engine.backend import System, make_backend
    from ..models import check_store_file
    from ..store.isstore import read_positions, read_store

    m = check_store_file(store_path, glass_model)
    st = read_store(store_path, positions=False)
    n = st.n_particles
    types = st.types if st.types is not None else np.ones(n, np.int64)
    masses = st.masses if st.masses is not None else np.ones(n)
    system = System(m, types, masses, st.diameters, st.box)
    if isinstance(pairs, (str, bytes)) or hasattr(pairs, "__fspath__"):
        from .batch import read_pairs_table

        pairs = read_pairs_table(pairs)
    rows = []
    with make_backend(system, engine) as be:
        for a, b in zip(pairs["is_a"].astype(int), pairs["is_b"].astype(int)):
            if not (0 <= a < st.n_is and 0 <= b < st.n_is):
                raise ValueError(f"pairs: IS index out of range ({a}, {b}); {store_path} holds {st.n_is} IS")
            xa, xb = read_positions(store_path, [a, b])
            r = neb_pair_backend(xa, xb, be, masses, units.hbar, options=options, **overrides)
            dx = minimum_image(xb - xa, st.box)
            dx -= (masses[:, None] * dx).sum(0) / masses.sum()
            top = np.argsort(-np.sqrt((dx * dx).sum(1)))[:3]  # the most displaced particles, and their species
            rows.append({"is_a": a, "is_b": b, **{f"species_{k + 1}": int(types[t]) for k, t in enumerate(top)},
                         "status": r.status, "e_qs": r.e_qs,
                         "e_qs_kelvin": float(units.to_kelvin(r.e_qs)) if math.isfinite(r.e_qs) else math.nan,
                         "barrier": r.barrier, "delta_e": r.delta_e, "d": r.d, "delta0": r.delta0,
                         "n_iter": r.n_iter, "seconds": r.seconds, "backend": be.name})
    return pd.DataFrame(rows)


def run_cli(args, m, opts) -> int:
    """``tlspipe neb STORE --model FILE`` for a model other than the soft spheres: every pair through
    :func:`run_model_pairs`, the results written to ``--out`` (Parquet) in one go (no resume).  Units: in
    LAMMPS lj units the preset must be given (``--units argon`` for argon-like Lennard-Jones units, or a
    custom mapping in --config: the paper's preset is the soft spheres' scale); metal and real are fixed."""
    import json

    from ..model import unit_preset
    from ..util.io import atomic_path

    given = args.units is not None or (args.config and "units" in json.loads(open(args.config).read()))
    if m.units == "lj":
        if not given:
            raise ValueError(f"{m.describe()} is in LAMMPS lj units: say which material they stand for, --units "
                             "argon (sigma 3.405 A, epsilon 119.8 K, 39.948 amu) or a custom mapping of "
                             "sigma_angstrom, epsilon_kelvin, mass_amu in --config; the default 'paper' preset is "
                             "the soft spheres' scale")
        units = unit_preset(opts.units)
    else:
        if given:
            raise ValueError(f"{m.describe()} is in LAMMPS {m.units} units, which fix hbar; drop --units")
        units = model_units(m.units)
    threshold_k = getattr(args, "tls_threshold_kelvin", None)
    threshold_k = TLS_THRESHOLD_KELVIN if threshold_k is None else float(threshold_k)
    if not threshold_k > 0:
        raise ValueError(f"--tls-threshold-kelvin {threshold_k}: must be positive")
    res = run_model_pairs(args.store, args.pairs, m, units, options=opts.pair)
    res["is_tls"] = (res["status"] == "dw") & (res["e_qs_kelvin"] < threshold_k)
    with atomic_path(args.out, ".tmp.parquet") as tmp:
        res.to_parquet(tmp, index=False)
    counts = res["status"].value_counts().to_dict()
    print(f"{len(res)} pairs -> {args.out}: {counts}; {int(res['is_tls'].sum())} TLS (E_qs < {threshold_k:g} K = "
          f"{float(units.to_epsilon(threshold_k)):.4g} in the model's energy unit, units {units.name}, backend "
          f"{res['backend'].iloc[0] if len(res) else '-'})")
    return 0


def store_is_other_model(store_path) -> bool:
    """Does the IS store hold a model other than the soft spheres (then the study's NEB runs here)?"""
    from ..models import store_model
    from ..store.isstore import open_store

    with open_store(store_path) as h:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h.attrs.items()}
    return not store_model(attrs, str(store_path)).is_soft_sphere


def run_model_chunk(options: dict, store_path, pairs):
    """The study's NEB of one chunk of pairs of another model's store (the ``neb`` rule,
    :func:`tlspipe.path.chunk.run_chunk`): :func:`run_model_pairs` with the study's neb options and units
    preset, the model being the store's own (its record; the study refused any other model when it started).
    Columns: those of the soft-sphere chunks (IS ids + tlspipe.columns.EXACT, ``path_length`` the mass-weighted
    path length) and species_1..3.  No resume within a chunk and no V(xi) profiles."""
    from .. import columns as C
    from ..models import store_model
    from ..store.isstore import open_store
    from .batch import resolve_config

    opts = resolve_config(options)
    with open_store(store_path) as h:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h.attrs.items()}
    m = store_model(attrs, str(store_path))
    from ..model import unit_preset

    res = run_model_pairs(store_path, pairs, m, unit_preset(opts.units), options=opts.pair)
    res = res.rename(columns={"d": C.PATH_LENGTH})
    species = [c for c in res.columns if c.startswith("species_")]
    if not len(res):
        return C.empty_exact().drop(columns=[C.GLASS])
    res[C.N_ITER] = res[C.N_ITER].astype("int64")
    return res[[C.IS_A, C.IS_B] + C.EXACT + species]
