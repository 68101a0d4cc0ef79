"""A study's starting glasses from the user's own LAMMPS data files (study key ``prepare.protocol: files``).

The prepare job of glass k of a group imports file k of the group's ``prepare.files`` (a list of paths or
globs, sorted; the group's ``count`` must equal the number of files).  The file is read by
:func:`tlspipe.store.lammps.read_lammps_data` (atom styles ``atomic``, ``charge``, ``sphere``; NaN or inf
numbers, a damaged box or a truncated file are refused there, naming the line) and checked against the study's
model by :func:`tlspipe.models.system_from_data` (every atom type of the file has the model's ``mass`` line,
the file's ``Masses`` equal the model's, a ``Pair Coeffs # style`` section is the model's style; an
``atomic`` file is never a glass of the soft spheres).  It must hold ``n_particles`` atoms (the study's N, which
the report and figures use) and, for the soft spheres, the density 1 of the paper's model.

The glass is then quenched to its inherent structure with the model's engine (the study's ``engine``:
native for the soft spheres and the native Lennard-Jones family, LAMMPS for any other pair style) to
``max_i |F_i| < explore.refine_ftol``; a file already at an IS to that tolerance is taken as is (positions
bit for bit).  The exploration starts its trajectories from this IS with fresh Maxwell velocities, so a
file's velocities are not used.  A file whose energy or forces are not finite (overlapping atoms) or whose
quench does not converge is refused, naming it.

Output, mirroring :func:`tlspipe.sample.cooling.write_cooled_glass`: ``equilibrated.data`` (LAMMPS
``atomic`` with the model's Masses; ``charge`` with the diameters for the soft spheres) and
``equilibrated.json`` (the source file and its sha256, the energy and max force as read, whether it was
quenched, the largest displacement of the quench, the IS energy per particle).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np


class GlassFileError(ValueError):
    """A glass file that cannot start the study; the message names the file and the fix."""


def import_glass_file(path, model, n_particles: int | None = None, engine: str = "auto", ftol: float = 1e-10,
                      tf: float | None = None, seed: int | None = None) -> dict:
    """The glass of LAMMPS data file ``path`` under ``model`` (module docstring): {positions, types, masses,
    diameters, box, meta}."""
    from .. import model as ss
    from ..engine.backend import make_backend
    from ..models import ModelError, system_from_data
    from ..store.lammps import read_lammps_data
    from ..util.periodic import minimum_image

    path = Path(path)
    t0 = time.perf_counter()
    if not path.is_file():
        raise GlassFileError(f"{path}: no such glass file (prepare.files)")
    data = read_lammps_data(path)  # LammpsDataError names the file and line
    try:
        system = system_from_data(data, model)
    except ModelError as e:
        msg = str(e)
        raise GlassFileError(msg if str(path) in msg else f"{path}: {msg}") from None
    n = data.n_particles
    if n_particles is not None and n != int(n_particles):
        raise GlassFileError(f"{path}: holds {n} atoms but the study's n_particles is {n_particles}; set "
                             f"n_particles: {n} (every glass of a study has the same N)")
    if model.is_soft_sphere and abs(data.density / ss.DENSITY - 1.0) > 1e-6:
        raise GlassFileError(f"{path}: density {data.density:.10g}, but the soft spheres of the study are at "
                             f"density {ss.DENSITY}; give glasses at that density")
    x0 = data.unwrapped()
    try:
        be = make_backend(system, engine)
    except (ModelError, ValueError, ImportError) as e:
        raise GlassFileError(f"{path}: the engine cannot run this glass under {model.describe()}: {e}") from None
    with be:
        try:
            e0, f0 = be.energy_forces(x0)
        except Exception as e:  # LAMMPS errors, non-finite positions
            raise GlassFileError(f"{path}: the energy of the glass under {model.describe()} could not be "
                                 f"computed ({e})") from None
        fmax0 = float(np.sqrt((f0 * f0).sum(1)).max()) if n else 0.0
        if not (np.isfinite(e0) and np.isfinite(fmax0)):
            raise GlassFileError(f"{path}: energy {e0} / max force {fmax0} under {model.describe()} are not "
                                 "finite (overlapping atoms?); check the file ('tlspipe inspect FILE --model M')")
        quenched = not fmax0 < ftol
        if quenched:
            x, res = be.minimise(x0, ftol=ftol)
            e_is, fmax, steps = float(res.energy), float(res.max_force), int(res.n_steps)
            if not fmax < 10 * ftol:
                raise GlassFileError(f"{path}: the quench to the inherent structure stopped at max|F| = {fmax:.3g} "
                                     f"(> 10 x explore.refine_ftol = {10 * ftol:.3g}) after {steps} steps; check the "
                                     "glass, or loosen explore.refine_ftol")
        else:
            x, e_is, fmax, steps = x0, float(e0), fmax0, 0
        backend = be.name
    meta = {"n_particles": n, "tf": tf, "seed": seed, "protocol": "files", "source": str(path.resolve()),
            "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "atom_style": data.atom_style,
            "model_name": model.name, "model_sha256": model.sha256,
            "type_counts": np.bincount(system.types, minlength=system.n_types + 1)[1:].tolist(),
            "density": float(data.density), "initial_energy_per_particle": float(e0) / n,
            "initial_max_force": fmax0, "quenched": bool(quenched), "quench_steps": steps, "ftol": float(ftol),
            "quench_max_displacement": _max_disp(x, x0, system.box, minimum_image) if quenched else 0.0,
            "inherent_energy_per_particle": e_is / n, "inherent_max_force": fmax, "backend": backend,
            "swap_acceptance": None, "equilibration": {"equilibrated": None, "reason": "glass from a file"},
            "seconds": time.perf_counter() - t0}
    # written in the file's own box: as stored when taken as is, else wrapped into [lo, hi)
    pos = data.positions if not quenched else data.lo + np.mod(x - data.lo, system.box)
    return {"positions": pos, "types": system.types, "masses": system.masses, "diameters": system.diameters,
            "box": system.box, "lo": data.lo, "hi": data.hi, "meta": meta}


def _max_disp(a, b, box, minimum_image) -> float:
    d = minimum_image(np.asarray(a) - np.asarray(b), box)
    return float(np.sqrt((d * d).sum(1)).max())


def write_file_glass(g: dict, model, data_path, meta_path=None):
    """The imported glass as the prepare rule's outputs (module docstring)."""
    import json

    from ..store.lammps import write_lammps_data
    from ..util.io import atomic_path
    from .cooling import write_cooled_glass

    m = g["meta"]
    Path(data_path).parent.mkdir(parents=True, exist_ok=True)
    if not model.is_soft_sphere:
        return write_cooled_glass({**g, "velocities": None}, model, data_path, meta_path)
    data_path = Path(data_path)
    meta_path = Path(meta_path) if meta_path else data_path.with_suffix(".json")
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(m, indent=1))
        write_lammps_data(data_path, g["positions"], g["diameters"], g["box"], atom_style="charge", lo=g["lo"],
                          hi=g["hi"],
                          comment=f"tlspipe glass (soft spheres, from {m['source']}): N={m['n_particles']} "
                                  "(the charge column holds the diameter sigma)")
    return data_path, meta_path
