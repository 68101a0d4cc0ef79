"""Exact results (NEB + Schroedinger) for a table of IS pairs of one glass, resumable.

``run_pairs(store_path, pairs, out_path, config)`` computes every pair (is_a, is_b) of ``pairs`` that is not
yet in ``out_path`` and rewrites ``out_path`` atomically (temporary file + rename) after each pair, so a killed
run loses at most the pair in progress and a rerun continues where it stopped.  Results are reused only when
they were made from the same inputs: the file records its provenance (the store's content hash, the glass
label, every option that changes a number, the package version); an ``out_path`` of other inputs is moved
aside to ``<stem>.stale-<k>.parquet`` with a warning naming what differs, and every pair is computed anew.  The
file also records the sha256 of its rows (``content_sha256``, see :func:`results_sha256`): a table whose bytes
changed after it was written (a bad disk, a bad copy) does not match it and is moved aside to
``<stem>.damaged-<k>.parquet`` in the same way, never reused.  A pair that fails (an end
that is not a minimum, a band that does not converge, any exception) is a row with status
'failed: <reason>' and never stops the batch.

Output columns: columns.IDS + columns.EXACT (see :mod:`tlspipe.columns`), energies in epsilon, d the path
length in sigma (arc length of the converged band in the 3N-dimensional space, masses 1; not the straight
end-to-end distance of the pair features), delta_e = |V(1) - V(0)|.  hbar comes from the unit preset
(``units``: ``paper`` hbar* = 0.01478, the scale of the authors' own E_qs; ``argon`` 0.0296; ``nip`` 0.0135;
see :data:`tlspipe.model.UNIT_PRESETS`) and e_qs_kelvin = e_qs * epsilon/k_B of that preset (paper: 479.2 K,
so the TLS threshold 0.0015 epsilon is 0.72 K; argon: 119.8 K).  e_qs and delta0 are NaN unless the status
is 'dw'.  The Parquet schema metadata holds the configuration, hbar and the provenance (key ``tlspipe``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
import traceback
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__, model
from .. import columns as C
from ..store.isstore import StoreHandle, content_hash, glass_name
from ..util.io import atomic_path
from ..util.periodic import box3
from .glass import neb_pair
from .options import PathOptions

log = logging.getLogger(__name__)

#: Every tunable of the exact-path calculation, with its default (explained in :mod:`tlspipe.path.options`).
#: Units: epsilon, sigma, masses 1.
DEFAULTS: dict = PathOptions().as_dict()


def resolve_config(config) -> PathOptions:
    """The options of a flat mapping of exact-path options (missing keys take their DEFAULTS); unknown keys
    raise ValueError naming them, as do an unknown unit preset and fewer than 3 images.  PathOptions pass
    through unchanged."""
    if isinstance(config, PathOptions):
        return config
    return PathOptions.from_dict(config)


def provenance(store_path, glass: str, opts: PathOptions, store_sha256: str | None = None) -> dict:
    """What a result depends on: the store's content hash (``store_sha256`` when already computed), the glass
    label, every option that changes a number (physics options and the unit preset; not tls_threshold, which
    only counts) and the version."""
    prov = {"store_sha256": store_sha256 or content_hash(store_path), "glass": glass,
            "options": opts.physics(), "tlspipe_version": __version__}
    return json.loads(json.dumps(prov, sort_keys=True, default=str))  # as it reads back from the file


def _provenance_mismatch(old: dict | None, prov: dict) -> str | None:
    """None when results recorded with provenance ``old`` were made from ``prov``, else why they were not."""
    if old is None:
        return "it records no provenance (written before results carried one)"
    diff = [f"{k} {old.get(k)!r} (now {prov[k]!r})" for k in ("store_sha256", "glass", "tlspipe_version")
            if old.get(k) != prov[k]]
    o, n = old.get("options", {}), prov["options"]
    diff += [f"{k}={o.get(k)!r} (now {n.get(k)!r})" for k in sorted(set(o) | set(n)) if o.get(k) != n.get(k)]
    return "it was made with " + ", ".join(diff) if diff else None


def _aside_name(path: Path, tag: str = "stale") -> Path:
    k = 1
    while (p := path.with_name(f"{path.stem}.{tag}-{k}{path.suffix}")).exists():
        k += 1
    return p


def results_sha256(df: pd.DataFrame) -> str:
    """sha256 of the values of a results table: columns IDS + EXACT in that order, numbers as little-endian
    float64 (one NaN), text as UTF-8.  Recorded in the file when it is written and compared when it is read
    back, so that rows whose bytes changed on disk are never reused; the same whatever dtypes pandas gives
    the columns on reading."""
    sha = hashlib.sha256()
    for c in C.IDS + C.EXACT:
        col = df[c]
        sha.update(c.encode() + b"\0")
        if pd.api.types.is_numeric_dtype(col.dtype):
            v = np.asarray(col, dtype="<f8")
            sha.update(np.where(np.isnan(v), np.nan, v).tobytes())
        else:
            sha.update("\0".join("\x01" if pd.isna(s) else str(s) for s in col).encode())
    return sha.hexdigest()


def _reusable_results(out_path: Path, prov: dict) -> pd.DataFrame:
    """The results already in ``out_path`` when they were made from ``prov`` and read back as written.  Results
    of other inputs are moved aside to ``<stem>.stale-<k>.parquet``, results whose rows do not match their
    recorded sha256 to ``<stem>.damaged-<k>.parquet`` (kept, never deleted), with a warning that names the file
    and the reason, and nothing is reused; a file that is not a results table is refused (ValueError)."""
    if not out_path.exists():
        return C.empty_exact()
    refuse = (f"; it is not a results table of 'tlspipe neb' - move it away or choose another output")
    try:
        meta = (pq.read_schema(out_path).metadata or {}).get(b"tlspipe")
        done = pd.read_parquet(out_path)
    except Exception as e:  # noqa: BLE001 - a damaged file fails anywhere in pyarrow or pandas (KeyError, ...)
        raise ValueError(f"{out_path}: cannot be read as Parquet ({' '.join(str(e).split())[:200]}); a damaged "
                         "results table or another file - move it away (its pairs are then computed anew) or "
                         "choose another output") from e
    missing = [c for c in C.IDS + C.EXACT if c not in done.columns]
    if meta is None or missing:
        raise ValueError(f"{out_path}: " + (f"column(s) {missing} missing" if missing else "no tlspipe metadata")
                         + refuse)
    try:
        info = json.loads(meta)
    except ValueError:  # JSON or UTF-8 errors: the metadata's bytes changed
        info = None
    tag = "damaged"
    if not isinstance(info, dict):
        why = "its tlspipe metadata does not parse (the file changed after it was written)"
    elif "content_sha256" not in info:
        why, tag = "it records no sha256 of its rows (written before results carried one)", "stale"
    elif info["content_sha256"] != results_sha256(done):
        why = "its rows do not match the sha256 recorded when it was written (the file changed after writing)"
    else:
        why, tag = _provenance_mismatch(info.get("provenance"), prov), "stale"
    if why is None:
        return done
    aside = _aside_name(out_path, tag)
    os.replace(out_path, aside)
    log.warning("%s: results not reused, %s; moved to %s, and every pair is computed anew", out_path, why,
                aside.name)
    return C.empty_exact()


def read_pairs_table(pairs) -> pd.DataFrame:
    """A DataFrame, or a CSV / Parquet file, with integer columns is_a, is_b."""
    if isinstance(pairs, pd.DataFrame):
        df, src = pairs, "pairs table"
    else:
        src = str(pairs)
        p = Path(pairs)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such pairs file")
        df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(p)
    missing = [c for c in (C.IS_A, C.IS_B) if c not in df.columns]
    if missing:
        raise ValueError(f"{src}: column(s) {missing} missing; a pairs table needs integer columns "
                         f"'{C.IS_A}' and '{C.IS_B}' (IS indices in the store)")
    out = df.copy()
    for c in (C.IS_A, C.IS_B):
        v = pd.to_numeric(out[c], errors="coerce")
        if v.isna().any() or not np.all(np.asarray(v) == np.round(np.asarray(v))):
            bad = int(np.flatnonzero(v.isna() | (v != np.round(v)))[0])
            raise ValueError(f"{src}: column '{c}' must hold integer IS indices (row {bad}: {df[c].iloc[bad]!r})")
        out[c] = v.astype(np.int64)
    return out


def _row_key(a, b):
    return (int(a), int(b))


def _write_results(df: pd.DataFrame, path: Path, meta: dict):
    """The results table with its metadata and the sha256 of its rows, written atomically."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[b"tlspipe"] = json.dumps({**meta, "content_sha256": results_sha256(df)}, default=str).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_xyz(path, band: np.ndarray, energy: np.ndarray, diameters: np.ndarray, box) -> Path:
    """The band as an extended-XYZ trajectory (one frame per image) for OVITO / ASE.

    Species "X" (no chemistry), positions unwrapped (continuous along the path), periodic cell, per-atom
    radius = diameter / 2, per-frame energy (epsilon) and image index.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    box = box3(box)
    n = diameters.size
    lattice = f"{box[0]:.10g} 0 0 0 {box[1]:.10g} 0 0 0 {box[2]:.10g}"
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for k, (x, e) in enumerate(zip(band.reshape(band.shape[0], n, 3), energy)):
            fh.write(f"{n}\n")
            fh.write(f'Lattice="{lattice}" Properties=species:S:1:pos:R:3:radius:R:1 pbc="T T T" '
                     f"energy={e:.12f} image={k}\n")
            for i in range(n):
                fh.write(f"X {x[i, 0]:.10f} {x[i, 1]:.10f} {x[i, 2]:.10f} {0.5 * diameters[i]:.6f}\n")
    return path


def _write_profile(h5path: Path, glass: str, a: int, b: int, res, row: dict):
    """Add the profile of one pair to the HDF5 file (group '/{glass}/{a}_{b}', replaced if present).

    The file is never changed in place: the pair goes into a copy that replaces the file only when written
    (:func:`tlspipe.util.io.atomic_path`), so a job killed at any moment leaves the profiles of the pairs
    before intact.  A file that cannot be opened (damaged by a run of an older version) is kept aside as
    ``<name>.damaged`` and a new one started."""
    h5path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(h5path) as tmp:
        if h5path.exists():
            try:
                with h5py.File(h5path, "r"):
                    pass
                shutil.copyfile(h5path, tmp)
            except OSError:
                os.replace(h5path, h5path.with_name(h5path.name + ".damaged"))
                log.warning("%s could not be opened; moved aside to %s.damaged", h5path, h5path.name)
        with h5py.File(tmp, "a") as h:
            _add_profile(h, glass, a, b, res, row)


def _add_profile(h: h5py.File, glass: str, a: int, b: int, res, row: dict):
    """Write one pair's group into the open profiles file."""
    h.attrs.setdefault("format", "tlspipe-profiles")
    name = f"{glass}/{a}_{b}"
    if name in h:
        del h[name]
    g = h.create_group(name)
    for k in (C.STATUS, C.E_QS, C.BARRIER, C.DELTA_E, C.PATH_LENGTH, C.DELTA0):
        g.attrs[k] = row[k]
    if res.neb is not None:
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(res.neb.band, axis=0), axis=1))])
        g.create_dataset("xi_images", data=s / s[-1] if s[-1] > 0 else s)
        g.create_dataset("energy_images", data=res.neb.energy)
    if res.analysis is not None and res.analysis.xi.size:
        g.create_dataset("xi", data=res.analysis.xi)
        g.create_dataset("energy", data=res.analysis.v)
        g.attrs["e0"] = res.analysis.e0
        g.attrs["e1"] = res.analysis.e1


def compute_pair(x_a, x_b, diameters, box, opts: PathOptions):
    """(row dict without ids, PairResult or None) for one pair; exceptions become failed rows."""
    preset = model.unit_preset(opts.units)
    t0 = time.perf_counter()
    row = {C.STATUS: "", C.E_QS: math.nan, C.E_QS_K: math.nan, C.BARRIER: math.nan, C.DELTA_E: math.nan,
           C.PATH_LENGTH: math.nan, C.DELTA0: math.nan, C.N_ITER: 0, C.SECONDS: 0.0}
    res = None
    try:
        res = neb_pair(x_a, x_b, diameters, box, preset.hbar, model.MASS, options=opts.pair)
        row.update({C.STATUS: res.status, C.E_QS: res.e_qs, C.E_QS_K: float(preset.to_kelvin(res.e_qs)),
                    C.BARRIER: res.barrier, C.DELTA_E: res.delta_e, C.PATH_LENGTH: res.d, C.DELTA0: res.delta0,
                    C.N_ITER: int(res.n_iter)})
    except Exception as e:  # a failed pair never stops the batch
        msg = " ".join(str(e).split())[:200]
        row[C.STATUS] = f"failed: {type(e).__name__}: {msg}"
        log.debug("pair failed:\n%s", traceback.format_exc())
    row[C.SECONDS] = time.perf_counter() - t0
    return row, res


def run_pairs(store_path, pairs, out_path, config: dict | PathOptions | None = None, profiles_path=None, xyz_dir=None,
              glass: str | None = None, progress: bool = False) -> pd.DataFrame:
    """Exact results for the pairs (DataFrame or CSV/Parquet file with is_a, is_b) of one IS store.

    Pairs already in ``out_path`` are skipped (resume) when its provenance matches (else it is moved aside, see
    the module docstring); the file is rewritten atomically after every pair.
    Returns the results of all requested pairs (in the order of ``pairs``), columns IDS + EXACT.
    profiles_path: HDF5 file that receives the profile V(xi) of every computed pair (for figures);
    xyz_dir: directory for one extended-XYZ band per pair; glass: label (default: the store's 'glass'
    attribute, else the name of its folder, as every command).  The store is opened and checked once, and
    that handle serves its header, its content hash and the IS of every pair.
    """
    with StoreHandle(store_path) as handle:
        return _run_pairs(handle, pairs, out_path, config, profiles_path, xyz_dir, glass, progress)


def _run_pairs(handle: StoreHandle, pairs, out_path, config, profiles_path, xyz_dir, glass, progress):
    opts = resolve_config(config)
    store_path = handle.path
    store = handle.read(positions=False)
    from ..models import require_native_soft_sphere, store_model  # the NEB runs the soft-sphere kernels

    require_native_soft_sphere(store_model(store.attrs, str(store_path)), f"the NEB of {store_path}")
    glass = str(glass or glass_name(store_path, store.attrs))
    df = read_pairs_table(pairs)
    n_is = store.n_is
    bad = df[(df[C.IS_A] < 0) | (df[C.IS_A] >= n_is) | (df[C.IS_B] < 0) | (df[C.IS_B] >= n_is)]
    if len(bad):
        r = bad.iloc[0]
        raise ValueError(f"pairs: IS index out of range in row {bad.index[0]} ({int(r[C.IS_A])}, {int(r[C.IS_B])}); "
                         f"{store_path} holds {n_is} IS (indices 0..{n_is - 1})")
    same = df[df[C.IS_A] == df[C.IS_B]]
    if len(same):
        raise ValueError(f"pairs: row {same.index[0]} pairs IS {int(same.iloc[0][C.IS_A])} with itself")
    if C.GLASS in df.columns:
        other = set(df[C.GLASS].astype(str)) - {glass}
        if other:
            raise ValueError(f"pairs: rows of glass(es) {sorted(other)[:5]} given for the store of glass {glass!r} "
                             f"({store_path}); pass one glass at a time")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prov = provenance(store_path, glass, opts, store_sha256=handle.content_hash())
    done = _reusable_results(out_path, prov)
    have = {_row_key(a, b) for a, b in zip(done[C.IS_A], done[C.IS_B])}
    todo = []
    for a, b in zip(df[C.IS_A], df[C.IS_B]):
        k = _row_key(a, b)
        if k not in have:
            have.add(k)
            todo.append(k)
    meta = {"tlspipe_version": __version__, "config": opts.as_dict(), "store": str(store_path), "glass": glass,
            "hbar": opts.hbar, "provenance": prov}
    if todo:
        log.info("%s: %d pairs to compute (%d already in %s)", glass, len(todo), len(df) - len(todo), out_path)
    iterator = todo
    if progress:
        from tqdm import tqdm

        iterator = tqdm(todo, desc=f"neb {glass}", unit="pair")
    new = []
    for a, b in iterator:
        x = handle.positions([a, b])
        row, res = compute_pair(x[0], x[1], store.diameters, store.box, opts)
        row = {C.GLASS: glass, C.IS_A: a, C.IS_B: b, **row}
        if profiles_path is not None:
            _write_profile(Path(profiles_path), glass, a, b, res if res is not None else _NoResult(), row)
        if xyz_dir is not None and res is not None and res.neb is not None:
            write_xyz(Path(xyz_dir) / f"{glass}_{a}_{b}.xyz", res.neb.band, res.neb.energy, store.diameters,
                      store.box)
        new.append(row)
        current = pd.concat([done, pd.DataFrame(new)], ignore_index=True) if len(done) else pd.DataFrame(new)
        current = current[C.IDS + C.EXACT]
        _write_results(current, out_path, meta)
        log.info("%s %d-%d: %s E_qs=%.4g barrier=%.4g d=%.4g (%d it, %.2f s)", glass, a, b, row[C.STATUS],
                 row[C.E_QS], row[C.BARRIER], row[C.PATH_LENGTH], row[C.N_ITER], row[C.SECONDS])
    if not out_path.exists():
        _write_results(C.empty_exact(), out_path, meta)
    allres = pd.read_parquet(out_path)
    key = pd.MultiIndex.from_arrays([df[C.IS_A].to_numpy(), df[C.IS_B].to_numpy()], names=[C.IS_A, C.IS_B])
    allres = allres.set_index([C.IS_A, C.IS_B])
    allres = allres[~allres.index.duplicated(keep="last")]
    out = allres.reindex(key).reset_index()[C.IDS + C.EXACT]
    n_tls = int(((out[C.STATUS] == C.STATUS_DW) & (out[C.E_QS] < opts.tls_threshold)).sum())
    log.info("%s: %d pairs, %s; %d TLS (E_qs < %g epsilon)", glass, len(out),
             out[C.STATUS].value_counts().to_dict(), n_tls, opts.tls_threshold)
    return out


class _NoResult:
    neb = None
    analysis = None
