"""Build an inherent-structure store from a directory of LAMMPS data files of one glass.

The authors of the paper published their inherent structures (IS) as LAMMPS data files, one per IS,
named by the potential energy per particle (``2.044810139E-01.conf.txt``).  :func:`import_lammps_dir`
turns such a directory into an ``is.h5`` store (:mod:`tlspipe.store.isstore`):

* every file must hold the same glass: the same number of particles, the same diameter of every particle
  id (a different glass of the same model has the same multiset of diameters but permuted, because of swap
  Monte Carlo) and the same box;
* energies are recomputed with the native engine (epsilon per particle); when the file name starts with a
  number it is taken as the energy per particle and must agree to ``name_tol`` (1e-8: the names carry ten
  significant digits);
* a structure whose largest per-particle force max_i |F_i| exceeds ``ftol`` (epsilon/sigma) is not a
  minimum: it is re-minimised with FIRE to ``minimise_ftol`` (its name energy is then not checked, and a
  warning names it) or, with ``reminimise=False``, rejected (left out with a warning and listed in the
  summary; the import fails only if nothing is left);
* structures with the same energy per particle (to ``energy_tol``) and the same positions (largest
  minimum-image coordinate difference below ``position_tol``, their global translation removed) are one IS: they are merged, and ``visits``
  counts the files that gave it;
* IS are stored in ascending energy, positions wrapped into [-L/2, L/2); no transitions were observed,
  so the store says ``transitions_observed=False`` and holds no transition counts.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import h5py
import numpy as np

from .isstore import ISStore, write_store
from .. import model
from ..util.periodic import minimum_image, without_translation
from .lammps import DensityError, LammpsDataError, energy_from_filename, read_lammps_data, wrap_centered

# the attribute holding the file names is left out when it would exceed HDF5's compact attribute size
_MAX_ATTR_BYTES = 60_000


class LammpsImportError(ValueError):
    """A directory that cannot be imported; the message names the file and the fix."""


def _max_force(f: np.ndarray) -> float:
    return float(np.sqrt((f * f).sum(axis=1)).max()) if f.size else 0.0


def _list_files(directory: Path, pattern: str, out: Path | None) -> list[Path]:
    if not directory.is_dir():
        raise LammpsImportError(f"{directory}: not a directory")
    skip = set()
    if out is not None:
        out = out.resolve()
        skip = {out, out.with_name(out.name + ".tmp")}
    files = sorted(
        p for p in directory.glob(pattern)
        if p.is_file() and not p.name.startswith(".") and p.resolve() not in skip
    )
    if not files:
        raise LammpsImportError(f"{directory}: no files match '{pattern}'")
    return files


def _read(path: Path, expected_density: float | None, glass_model=None):
    """One data file; its errors become LammpsImportError.  A file of another model than ``glass_model`` is
    refused for that before its density is looked at (a wrong density is then the lesser problem)."""
    try:
        return read_lammps_data(path, expected_density=expected_density)
    except DensityError as e:
        from ..models import system_from_data

        system_from_data(read_lammps_data(path), glass_model)
        raise LammpsImportError(str(e)) from None
    except LammpsDataError as e:
        raise LammpsImportError(f"{e} (use --pattern to select only the LAMMPS data files)") from None


def _check_same_glass(path: Path, data, ref: tuple):
    """A file must hold the glass of the first file ``ref`` = (file, diameters, box): the same particle
    number, the same diameter of every particle id and the same box."""
    n = data.n_particles
    rpath, rdiam, rbox = ref[:3]
    if n != rdiam.size:
        raise LammpsImportError(f"{path}: {n} particles, but {rpath.name} has {rdiam.size}: "
                                "a store holds one glass; move the other files elsewhere")
    if not np.array_equal(np.sort(data.diameters), np.sort(rdiam)):
        raise LammpsImportError(f"{path}: its set of diameters differs from that of {rpath.name}: a different "
                                "model or particle number; a store holds one glass")
    if len(ref) > 3 and not np.array_equal(data.types, ref[3]):
        k = int(np.nonzero(data.types != ref[3])[0][0])
        raise LammpsImportError(f"{path}: particle id {data.ids[k]} has type {data.types[k]} but {ref[3][k]} in "
                                f"{rpath.name}: another glass or renumbered atoms; a store holds one glass")
    if not np.array_equal(data.diameters, rdiam):
        k = int(np.nonzero(data.diameters != rdiam)[0][0])
        raise LammpsImportError(
            f"{path}: particle id {data.ids[k]} has diameter {data.diameters[k]!r} but "
            f"{rdiam[k]!r} in {rpath.name}: the diameters are permuted, so this is another glass "
            "(swap Monte Carlo permutes diameters) or renumbered atoms; a store holds one glass")
    if not np.allclose(data.box, rbox, rtol=1e-12, atol=0):
        raise LammpsImportError(f"{path}: box {data.box.tolist()} differs from {rbox.tolist()} in {rpath.name}: "
                                "a store holds one glass at one density")


def _minimum_record(path: Path, data, ref: tuple, ff, *, ftol: float, reminimise: bool, minimise_ftol: float,
                    name_tol: float) -> tuple[dict, str]:
    """(record {file, x, e, fmax}, what happened: 'minimum', 'reminimised' or 'rejected') of one file: its
    energy per particle and largest force with the engine, re-minimised when not a minimum (or rejected, the
    record then holding the reason), else its name energy checked.  Warnings point at the importer's caller."""
    n = data.n_particles
    x = wrap_centered(data.positions, ref[2])
    ff.reset()  # a backend of tlspipe.engine.backend: the model's energy, forces and minimiser
    e_tot, f = ff.energy_forces(x)
    fmax = _max_force(f)
    e = e_tot / n
    if not math.isfinite(e):
        raise LammpsImportError(f"{path}: the energy is not finite (overlapping particles?)")
    if fmax <= ftol:
        e_name = energy_from_filename(path)
        if e_name is not None and abs(e - e_name) > name_tol:
            raise LammpsImportError(
                f"{path}: the file name says {e_name!r} per particle but the structure has {e:.12g} "
                f"(difference {e - e_name:.3g} > {name_tol:g}); the file is damaged, belongs to another "
                "model, or is misnamed")
        return {"file": path.name, "x": x, "e": e, "fmax": fmax}, "minimum"
    if not reminimise:
        msg = (f"{path}: not a minimum (max|F| = {fmax:.3g} > ftol = {ftol:.3g}); rejected "
               "(use --reminimise to minimise it, or raise --ftol)")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return {"file": path.name, "reason": f"max|F| = {fmax:.6g} > ftol = {ftol:.6g}"}, "rejected"
    xm, res = ff.minimise(x, ftol=minimise_ftol)  # on the model's own landscape
    if not res.converged:
        raise LammpsImportError(f"{path}: not a minimum (max|F| = {fmax:.3g}) and FIRE did not converge "
                                f"(max|F| = {res.max_force:.3g} after {res.n_steps} steps); check the file")
    warnings.warn(f"{path}: not a minimum (max|F| = {fmax:.3g} > ftol = {ftol:.3g}); re-minimised "
                  f"with FIRE ({ff.name}), energy per particle {e:.10f} -> {res.energy / n:.10f} "
                  "(the energy in the file name is not checked)", RuntimeWarning, stacklevel=3)
    return {"file": path.name, "x": wrap_centered(xm, ref[2]), "e": res.energy / n, "fmax": res.max_force}, \
        "reminimised"


def _merge_duplicates(recs: list[dict], box, energy_tol: float, position_tol: float):
    """(distinct IS in ascending energy, each with its 'sources', [(file, same-as file)]): records with the same
    energy (to energy_tol) and positions (largest minimum-image coordinate difference below position_tol) are
    one IS."""
    recs = sorted(recs, key=lambda r: (r["e"], r["file"]))
    kept: list[dict] = []
    duplicates = []
    for r in recs:
        same = None
        for k in reversed(kept):
            if r["e"] - k["e"] > energy_tol:
                break
            dx = without_translation(minimum_image(r["x"] - k["x"], box), box)  # a translated copy is one IS
            if abs(r["e"] - k["e"]) <= energy_tol and np.abs(dx).max() < position_tol:
                same = k
                break
        if same is None:
            r["sources"] = [r["file"]]
            kept.append(r)
        else:
            same["sources"].append(r["file"])
            duplicates.append((r["file"], same["file"]))
    return kept, duplicates


def _store_of(kept: list[dict], diameters, box, attrs: dict) -> ISStore:
    """The IS store of the distinct IS (visits = files that gave each); the file names per IS go into the
    attributes unless they are too long for one."""
    positions = np.stack([k["x"] for k in kept])
    energy = np.array([k["e"] for k in kept])
    visits = np.array([len(k["sources"]) for k in kept], np.int64)
    attrs = dict(attrs)
    names = json.dumps([k["sources"] for k in kept])
    if len(names.encode()) < _MAX_ATTR_BYTES:
        attrs["source_files"] = names
    return ISStore(diameters=diameters, box=box, positions=positions, energy=energy, visits=visits, attrs=attrs)


def import_lammps_dir(
    directory,
    out,
    ftol: float = 1e-4,
    reminimise: bool = True,
    glass: str | None = None,
    *,
    pattern: str = "*",
    name_tol: float = 1e-8,
    energy_tol: float = 1e-10,
    position_tol: float = 1e-6,
    minimise_ftol: float = 1e-10,
    expected_density: float | None = model.DENSITY,
    progress: bool = False,
    glass_model=None,
    engine: str = "auto",
) -> dict:
    """Import the LAMMPS data files of one glass in ``directory`` into the IS store ``out``.

    ftol: max_i |F_i| (epsilon/sigma) above which a file is not a minimum.  reminimise: re-minimise such
    files (FIRE to minimise_ftol) instead of rejecting them.  glass: the store's glass name (default: the
    directory name).  pattern: glob of the files to read (default every non-hidden file; anything that is
    not a LAMMPS data file is an error naming it).  expected_density: the number density every box must
    hold (default the model's, 1); a file at another density is an error naming it.  None: no check.
    glass_model: the model (:class:`tlspipe.models.Model` or a model file; None: the soft spheres); every file
    must fit it (:func:`tlspipe.models.system_from_data`), energies, forces and re-minimisation are the
    model's, by the backend ``engine`` chooses ('auto', 'native', 'lammps'; tlspipe.engine.backend); the store
    records the model and the types and masses of the particles.

    Returns a summary dict: out, glass, n_files, n_is, energy_per_particle (sorted, one per IS),
    max_force (per IS, after any re-minimisation), visits, duplicates [(file, same-as file)],
    reminimised [file], rejected [{file, reason}], source files per IS.
    """
    from ..engine.backend import make_backend
    from ..models import resolve_model, store_attrs, system_from_data

    glass_model = resolve_model(glass_model)
    directory = Path(directory)
    out = Path(out)
    files = _list_files(directory, pattern, out)
    glass = glass or directory.resolve().name

    ref = None  # (file, diameters, box)
    ff = None
    recs = []  # dicts: file, x, e (per particle), fmax
    reminimised, rejected = [], []
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc=f"import {glass}", unit="file")
    for path in it:
        data = _read(path, expected_density, glass_model)
        if ref is None:
            system = system_from_data(data, glass_model)
            ref = (path, data.diameters, data.box, data.types)
            ff = make_backend(system, engine)
        else:
            system_from_data(data, glass_model)
            _check_same_glass(path, data, ref)
        rec, what = _minimum_record(path, data, ref, ff, ftol=ftol, reminimise=reminimise,
                                    minimise_ftol=minimise_ftol, name_tol=name_tol)
        if what == "rejected":
            rejected.append(rec)
            continue
        if what == "reminimised":
            reminimised.append(path.name)
        recs.append(rec)

    if not recs:
        raise LammpsImportError(f"{directory}: no file is a minimum (all {len(files)} rejected; "
                                "use --reminimise or raise --ftol)")

    box = ref[2]
    kept, duplicates = _merge_duplicates(recs, box, energy_tol, position_tol)
    store = _store_of(kept, ref[1], box, dict(
        glass=glass,
        transitions_observed=False,
        energy_tol=energy_tol,
        position_tol=position_tol,
        source="lammps",
        source_dir=str(directory.resolve()),
        import_ftol=ftol,
        backend=ff.name,
        **store_attrs(glass_model),
    ))
    store.types, store.masses = system.types, system.masses
    ff.close()
    write_store(out, store)
    return {
        "out": str(out),
        "glass": glass,
        "n_files": len(files),
        "n_is": int(store.energy.size),
        "energy_per_particle": store.energy.tolist(),
        "max_force": [k["fmax"] for k in kept],
        "visits": store.visits.tolist(),
        "sources": [k["sources"] for k in kept],
        "duplicates": duplicates,
        "reminimised": reminimised,
        "rejected": rejected,
        "model": glass_model.name,
        "backend": ff.name,
    }


def is_hdf5(path) -> bool:
    """True when the file carries the HDF5 signature (whatever its extension)."""
    try:
        return bool(h5py.is_hdf5(str(path)))
    except OSError:
        return False
