"""Read and write LAMMPS data files of the polydisperse soft-sphere glass, and of other models.

Three atom styles are understood.  ``atomic`` (``id type x y z [ix iy iz]``) holds types only: it is a
glass of a model given by its own LAMMPS lines (:mod:`tlspipe.models`; its diameters are read as 1), never
the soft spheres.  The other two hold the particle diameter sigma_i (in sigma) in a per-atom column:

``charge``   (the authors' layout, written by LAMMPS ``write_data``)::

    id type q x y z [ix iy iz]          q holds the diameter sigma_i, not a charge

``sphere``   (what LAMMPS needs for ``pair_style lepton/sphere``)::

    id type diameter density x y z [ix iy iz]

    LAMMPS stores the *diameter* in the data file (the ``radi`` of the lepton expression is
    diameter/2) and sets the mass to density * pi/6 * diameter^3.  The writer chooses
    density = 6 / (pi sigma_i^3) so that every mass is 1.

Conventions of :class:`LammpsData`:

* arrays are ordered by atom id (ascending), whatever the order of the lines in the file;
* ``positions`` are the coordinates **as stored** in the file (LAMMPS ``write_data`` stores them
  wrapped into the box); the image flags, when the file has them, are kept separately in ``image``
  and :meth:`LammpsData.unwrapped` adds them.  Keeping both as stored makes read -> write -> read
  exact to the last bit;
* lengths in sigma, the box is orthorhombic (triclinic boxes are rejected), ``box = hi - lo``.

Numbers are written with ``%.17g``, which round-trips every float64 exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..util.periodic import box3, wrap

ATOM_STYLES = ("charge", "sphere", "atomic")
# number of columns without / with the three image flags
_NCOLS = {"charge": (6, 9), "sphere": (7, 10), "atomic": (5, 8)}

# header keywords that are read; _ZERO_COUNT_KEYS pass only with a zero count; any other header line is an error
_HEADER_KEYS = ("atoms", "atom types", "xlo xhi", "ylo yhi", "zlo zhi")
_ZERO_COUNT_KEYS = (
    "bonds", "angles", "dihedrals", "impropers", "bond types", "angle types", "dihedral types",
    "improper types", "extra bond per atom", "extra angle per atom", "extra dihedral per atom",
    "extra improper per atom", "extra special per atom", "ellipsoids", "lines", "triangles", "bodies",
)
# sections whose number of lines follows from the header; any other section is rejected
_SECTIONS = ("Atoms", "Velocities", "Masses", "Pair Coeffs", "PairIJ Coeffs")


class LammpsDataError(ValueError):
    """A LAMMPS data file that cannot be used; the message names the file (and line) and the fix."""


class DensityError(LammpsDataError):
    """A valid LAMMPS data file whose box holds its particles at another number density than expected."""


@dataclass
class LammpsData:
    """One configuration from a LAMMPS data file (see the module docstring for conventions).

    positions   (N, 3) float64  coordinates as stored in the file, sigma, ordered by atom id
    diameters   (N,)   float64  sigma_i
    box         (3,)   float64  edge lengths hi - lo
    lo          (3,)   float64  lower box corner
    ids         (N,)   int64    atom ids, ascending
    atom_style  'charge' or 'sphere'
    image       (N, 3) int64 image flags, or None when the file has none
    types       (N,)   int64 atom types (1 when not given)
    densities   (N,)   float64 density column of atom_style sphere, else None
    velocities  (N, 3) float64 from a Velocities section, else None
    type_masses {type: mass} from a Masses section, else None
    pair_coeffs (style named after 'Pair Coeffs #' or None, [lines]) of a Pair Coeffs / PairIJ Coeffs
                section, else None (atom_style atomic has no diameters: they are 1, see tlspipe.models)
    hi          (3,)   float64 upper box corner (kept so that writing reproduces it exactly)
    path        the file it was read from, if any
    """

    positions: np.ndarray
    diameters: np.ndarray
    box: np.ndarray
    lo: np.ndarray
    ids: np.ndarray
    atom_style: str = "charge"
    image: np.ndarray | None = None
    types: np.ndarray | None = None
    densities: np.ndarray | None = None
    velocities: np.ndarray | None = None
    type_masses: dict | None = None
    hi: np.ndarray | None = None
    path: Path | None = field(default=None, compare=False)
    pair_coeffs: tuple | None = field(default=None, compare=False)

    def __post_init__(self):
        self.positions = np.asarray(self.positions, np.float64).reshape(-1, 3)
        n = self.positions.shape[0]
        self.diameters = np.asarray(self.diameters, np.float64).reshape(n)
        self.box = box3(self.box)
        self.lo = box3(self.lo)
        self.hi = self.lo + self.box if self.hi is None else np.asarray(self.hi, np.float64).reshape(3)
        self.ids = np.asarray(self.ids, np.int64).reshape(n)
        self.types = np.ones(n, np.int64) if self.types is None else np.asarray(self.types, np.int64).reshape(n)
        if self.image is not None:
            self.image = np.asarray(self.image, np.int64).reshape(n, 3)
        if self.densities is not None:
            self.densities = np.asarray(self.densities, np.float64).reshape(n)
        if self.velocities is not None:
            self.velocities = np.asarray(self.velocities, np.float64).reshape(n, 3)
        if self.atom_style not in ATOM_STYLES:
            raise LammpsDataError(f"atom style {self.atom_style!r} is not supported; use one of {ATOM_STYLES}")

    @property
    def n_particles(self) -> int:
        return self.positions.shape[0]

    @property
    def density(self) -> float:
        """Number density N / V implied by the box."""
        return self.n_particles / float(np.prod(self.box))

    @property
    def masses(self) -> np.ndarray | None:
        """Per-particle masses: density * pi/6 * sigma^3 (sphere) or from the Masses section (charge)."""
        if self.densities is not None:
            return self.densities * (math.pi / 6.0) * self.diameters**3
        if self.type_masses is not None:
            return np.array([self.type_masses[t] for t in self.types], np.float64)
        return None

    def unwrapped(self) -> np.ndarray:
        """positions + image * box (positions as stored when the file has no image flags)."""
        if self.image is None:
            return self.positions.copy()
        return self.positions + self.image * self.box

    def wrapped(self) -> np.ndarray:
        """Positions wrapped into the box centred at the origin, [-L/2, L/2) per axis."""
        return wrap_centered(self.positions, self.box)

    def write(self, path, atom_style: str | None = None, comment: str | None = None) -> Path:
        """Write this configuration (in its own atom style unless another is given)."""
        style = atom_style or self.atom_style
        return write_lammps_data(
            path, self.positions, self.diameters, self.box, lo=self.lo, hi=self.hi, atom_style=style,
            ids=self.ids, image=self.image, types=self.types,
            densities=self.densities if style == "sphere" else None,
            velocities=self.velocities, type_masses=self.type_masses, comment=comment,
        )


def wrap_centered(x, box) -> np.ndarray:
    """Wrap coordinates into [-L/2, L/2) per axis (L = box edge, sigma)."""
    x = np.asarray(x, np.float64)
    L = box3(box)
    y = wrap(x, L)
    # floor(...) can land one image off when x/L + 0.5 rounds onto an integer
    y = np.where(y >= 0.5 * L, y - L, y)
    y = np.where(y < -0.5 * L, y + L, y)
    return y


def sphere_density(diameters) -> np.ndarray:
    """The atom_style sphere density that gives mass 1: 6 / (pi sigma^3)."""
    d = np.asarray(diameters, np.float64)
    return 6.0 / (math.pi * d**3)


# ----------------------------------------------------------------------------- reading
def _strip(line: str) -> str:
    i = line.find("#")
    return (line if i < 0 else line[:i]).strip()


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


class _DataLines:
    """The lines of one data file, and errors that name the file and the line."""

    def __init__(self, path: Path):
        self.path = path
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise LammpsDataError(f"{path}: not a text file, so not a LAMMPS data file") from None
        self.lines = text.splitlines()

    def __len__(self) -> int:
        return len(self.lines)

    def err(self, lineno, msg) -> LammpsDataError:
        where = f"{self.path}, line {lineno}" if lineno else f"{self.path}"
        return LammpsDataError(f"{where}: {msg}")


def _read_header(f: _DataLines) -> tuple[dict[str, tuple], int]:
    """The header ({key: (numbers, line number)}, line 1 being a free comment) and the index of the first line
    after it (the first section title)."""
    lines, nl, err = f.lines, len(f), f.err
    header: dict[str, tuple] = {}
    i = 1
    while i < nl:
        s = _strip(lines[i])
        if not s:
            i += 1
            continue
        toks = s.split()
        if not _is_number(toks[0]):
            break  # first section title
        key = " ".join(t for t in toks if not _is_number(t))
        nums = [t for t in toks if _is_number(t)]
        if key == "xy xz yz":
            raise err(i + 1, "triclinic box (xy xz yz tilt factors) is not supported; the glass lives in an "
                             "orthorhombic box")
        if key in _HEADER_KEYS:
            want = 1 if key in ("atoms", "atom types") else 2
            if len(nums) != want:
                raise err(i + 1, f"header line '{s}' should hold {want} number(s) before '{key}'")
            header[key] = (tuple(float(v) for v in nums), i + 1)
        elif key in _ZERO_COUNT_KEYS:
            if float(nums[0]) != 0:
                raise err(i + 1, f"'{s}': bonded or extended particles are not supported by the glass model")
        else:
            raise err(i + 1, f"unknown header line '{s}'")
        i += 1
    return header, i


def _header_counts(f: _DataLines, header: dict) -> tuple[int, int]:
    """(number of atoms, number of atom types) of the header."""
    if "atoms" not in header:
        raise f.err(0, "the header has no 'N atoms' line: not a LAMMPS data file, or its header is damaged")
    n_atoms_f = header["atoms"][0][0]
    if n_atoms_f != int(n_atoms_f) or n_atoms_f < 1:
        raise f.err(header["atoms"][1], f"atom count {n_atoms_f} must be a positive integer")
    return int(n_atoms_f), int(header.get("atom types", ((1,), 0))[0][0])


def _header_box(f: _DataLines, header: dict) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) box corners of the header."""
    lo = np.empty(3)
    hi = np.empty(3)
    for k, key in enumerate(("xlo xhi", "ylo yhi", "zlo zhi")):
        if key not in header:
            raise f.err(0, f"the header has no '{key}' line (box bounds)")
        (a, b), ln = header[key]
        if not (math.isfinite(a) and math.isfinite(b)) or b <= a:
            raise f.err(ln, f"box bounds '{key}' = {a} {b} are not finite with lo < hi")
        lo[k], hi[k] = a, b
    return lo, hi


def _section_body(f: _DataLines, i: int, title: str, title_ln: int, count: int, n_atoms: int,
                  n_types: int) -> tuple[list, int]:
    """The ``count`` non-blank lines [(line number, tokens)] of a section whose title is line ``i``, and the
    index of the line after them."""
    lines, nl = f.lines, len(f)
    body = []
    i += 1
    while i < nl and len(body) < count:
        t = _strip(lines[i])
        if t:
            if not _is_number(t.split()[0]):
                break  # the next section begins
            body.append((i + 1, t.split()))
        i += 1
    if len(body) < count:
        end = "the file ends" if i >= nl else f"line {i + 1} starts another section"
        what = "atom" if title in ("Atoms", "Velocities") else "entry"
        raise f.err(title_ln, f"truncated: the {title} section should hold {count} {what} lines "
                              f"(header: {n_atoms} atoms, {n_types} types) but has only {len(body)} before {end}")
    return body, i


def _atoms_style(f: _DataLines, comment: str, body: list, title_ln: int, atom_style: str | None) -> str:
    """The atom style of the Atoms section: its ``# style`` comment, else the requested one, else the number
    of columns."""
    style = comment.split()[0] if comment else None
    if style is not None and style not in ATOM_STYLES:
        raise f.err(title_ln, f"unknown atom style '{style}': supported are 'atomic' (id type x y z), 'charge' "
                              "(id type q x y z; for the soft-sphere model q = diameter) and 'sphere' (id type "
                              "diameter density x y z)")
    if atom_style is not None and style is not None and style != atom_style:
        raise f.err(title_ln, f"the file says atom style '{style}' but '{atom_style}' was requested")
    style = style or atom_style
    if style is None:
        ncol = len(body[0][1])
        style = {5: "atomic", 8: "atomic", 6: "charge", 9: "charge", 7: "sphere", 10: "sphere"}.get(ncol)
        if style is None:
            raise f.err(body[0][0], f"unknown atom style: {ncol} columns fit none of 'atomic' (id type x y z "
                                    "[ix iy iz]), 'charge' (id type q x y z [ix iy iz]) and 'sphere' (id type "
                                    "diameter density x y z [ix iy iz]); name the style after 'Atoms #'")
    return style


def _type_masses(f: _DataLines, body: list) -> dict[int, float]:
    type_masses = {}
    for ln, toks in body:
        if len(toks) != 2:
            raise f.err(ln, "a Masses line must be 'type mass'")
        type_masses[int(toks[0])] = float(toks[1])
    return type_masses


def _read_sections(f: _DataLines, i: int, header: dict, n_atoms: int, n_types: int, atom_style: str | None):
    """The sections from line index ``i`` on: ((atom style, Atoms body), Velocities body or None,
    {type: mass} or None).  Pair Coeffs / PairIJ Coeffs belong to the authors' pair style and are skipped."""
    lines, nl, err = f.lines, len(f), f.err
    atoms = velocities = None
    type_masses = None
    pair_coeffs = None
    last_title = None
    while i < nl:
        raw = lines[i]
        s = raw.strip()
        if not s:
            i += 1
            continue
        title = _strip(raw)
        comment = raw[raw.find("#") + 1:].strip() if "#" in raw else ""
        if title not in _SECTIONS:
            if _is_number(title.split()[0]) and last_title in ("Atoms", "Velocities"):
                raise err(i + 1, f"wrong atom count: the header (line {header['atoms'][1]}) says {n_atoms} atoms "
                                 f"but the {last_title} section has more lines; fix the 'atoms' line of the header")
            if _is_number(title.split()[0]) and last_title is not None:
                raise err(i + 1, f"the {last_title} section has more lines than the header's "
                                 f"{n_types} atom types")
            raise err(i + 1, f"unexpected line '{s[:60]}': expected a section title, one of {_SECTIONS}")
        title_ln = i + 1
        last_title = title
        if title in ("Atoms", "Velocities"):
            count = n_atoms
        elif title == "PairIJ Coeffs":
            count = n_types * (n_types + 1) // 2
        else:
            count = n_types
        body, i = _section_body(f, i, title, title_ln, count, n_atoms, n_types)
        if title == "Atoms":
            atoms = (_atoms_style(f, comment, body, title_ln, atom_style), body)
        elif title == "Velocities":
            velocities = body
        elif title == "Masses":
            type_masses = _type_masses(f, body)
        else:  # Pair Coeffs / PairIJ Coeffs: kept, so that a model can be checked against them
            pair_coeffs = ((comment.split() or [None])[0], [" ".join(t) for _, t in body], title_ln)
    if atoms is None:
        raise err(0, "no Atoms section: truncated or not a LAMMPS data file")
    return atoms, velocities, type_masses, pair_coeffs


def _atom_rows(f: _DataLines, style: str, body: list, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """The Atoms lines as numbers (n_atoms, columns) and their line numbers, both in file order."""
    ncols = _NCOLS[style]
    ncol0 = len(body[0][1])
    if ncol0 not in ncols:
        raise f.err(body[0][0], f"atom style '{style}' needs {ncols[0]} or {ncols[1]} columns, found {ncol0}")
    rows = np.empty((n_atoms, ncol0), np.float64)
    for k, (ln, toks) in enumerate(body):
        if len(toks) != ncol0:
            raise f.err(ln, f"{len(toks)} columns where the first atom line (line {body[0][0]}) has {ncol0}")
        try:
            rows[k] = [float(t) for t in toks]
        except ValueError:
            raise f.err(ln, f"cannot parse '{' '.join(toks)}' as numbers") from None
        if not np.all(np.isfinite(rows[k])):
            raise f.err(ln, f"non-finite value (NaN or inf) in atom line '{' '.join(toks)}'")
    return rows, np.array([ln for ln, _ in body])


def _id_order(f: _DataLines, rows: np.ndarray, linenos: np.ndarray) -> np.ndarray:
    """The order of the rows by atom id; ids must be positive integers, each once."""
    ids = rows[:, 0]
    if np.any(ids != np.round(ids)) or np.any(ids < 1):
        k = int(np.nonzero((ids != np.round(ids)) | (ids < 1))[0][0])
        raise f.err(linenos[k], f"atom id {ids[k]} is not a positive integer")
    ids = ids.astype(np.int64)
    order = np.argsort(ids, kind="stable")
    sid = ids[order]
    dup = np.nonzero(sid[1:] == sid[:-1])[0]
    if dup.size:
        a, b = sorted((linenos[order[dup[0]]], linenos[order[dup[0] + 1]]))
        raise f.err(b, f"duplicate atom id {sid[dup[0]]} (also on line {a}); every atom needs its own id")
    return order


def _atom_columns(f: _DataLines, style: str, body: list, n_atoms: int) -> dict:
    """The per-atom arrays of the Atoms section, ordered by atom id: ids, types, diameters, densities (sphere
    only, else None), positions and image flags (None when the lines have none)."""
    rows, linenos = _atom_rows(f, style, body, n_atoms)
    order = _id_order(f, rows, linenos)
    rows = rows[order]
    linenos = linenos[order]
    types = rows[:, 1].astype(np.int64)
    if style == "charge":
        diam = rows[:, 2].copy()
        dens = None
        pos = rows[:, 3:6].copy()
    elif style == "atomic":
        diam = np.ones(n_atoms)
        dens = None
        pos = rows[:, 2:5].copy()
    else:
        diam = rows[:, 2].copy()
        dens = rows[:, 3].copy()
        pos = rows[:, 4:7].copy()
    bad = np.nonzero(diam <= 0)[0]
    if bad.size:
        col = "charge (= diameter)" if style == "charge" else "diameter"
        raise f.err(linenos[bad[0]], f"{col} column is {diam[bad[0]]}: every particle needs a positive diameter")
    image = rows[:, -3:].astype(np.int64) if rows.shape[1] == _NCOLS[style][1] else None
    return dict(ids=rows[:, 0].astype(np.int64), types=types, diameters=diam, densities=dens, positions=pos,
                image=image)


def _velocities(f: _DataLines, body: list, ids: np.ndarray, n_atoms: int) -> np.ndarray:
    """The Velocities section (N, 3) in the order of ``ids``; every atom id exactly once."""
    vrows = {}
    for ln, toks in body:
        if len(toks) != 4:
            raise f.err(ln, "a Velocities line must be 'id vx vy vz'")
        v = [float(t) for t in toks[1:]]
        if not all(math.isfinite(t) for t in v):
            raise f.err(ln, "non-finite velocity (NaN or inf)")
        vrows[int(toks[0])] = v
    missing = [t for t in ids if t not in vrows]
    if missing or len(vrows) != n_atoms:
        raise f.err(0, f"the Velocities section does not list every atom id exactly once (e.g. id "
                       f"{missing[0] if missing else '?'} missing)")
    return np.array([vrows[t] for t in ids], np.float64)


def _check_density(data: LammpsData, expected_density: float, box_line: int):
    rho = data.density
    if abs(rho / expected_density - 1.0) > 1e-6:
        n_atoms, box = data.n_particles, data.box
        raise DensityError(
            f"{data.path}, line {box_line}: the box {box[0]:.10g} x {box[1]:.10g} x {box[2]:.10g} holds "
            f"{n_atoms} particles at density {rho:.10g}, not the expected {expected_density:.10g} (relative "
            f"tolerance 1e-6); a cubic box at that density has edge "
            f"{(n_atoms / expected_density) ** (1 / 3):.12g}.  If density {rho:.10g} is the one you mean, "
            f"pass it (--density {rho:.10g})")


def read_lammps_data(path, atom_style: str | None = None, expected_density: float | None = None) -> LammpsData:
    """Read a LAMMPS data file of the glass (see the module docstring for layout and conventions).

    atom_style: 'charge' or 'sphere'; by default taken from the ``Atoms # style`` comment, or, if
        there is none, from the number of columns (6/9: charge, 7/10: sphere).
    expected_density: if given, the box must hold N particles at this number density (relative
        tolerance 1e-6), else LammpsDataError says which density the box implies.

    Every problem (truncated file, atom count not matching the header, NaN/inf numbers, duplicate
    ids, unknown atom style, ...) raises LammpsDataError naming the file and the line.
    """
    path = Path(path)
    if atom_style is not None and atom_style not in ATOM_STYLES:
        raise LammpsDataError(f"{path}: atom style {atom_style!r} is not supported; use one of {ATOM_STYLES}")
    f = _DataLines(path)
    header, i = _read_header(f)
    n_atoms, n_types = _header_counts(f, header)
    lo, hi = _header_box(f, header)
    (style, body), velocities, type_masses, pair_coeffs = _read_sections(f, i, header, n_atoms, n_types,
                                                                         atom_style)
    atoms = _atom_columns(f, style, body, n_atoms)
    vel = None if velocities is None else _velocities(f, velocities, atoms["ids"], n_atoms)
    data = LammpsData(box=hi - lo, lo=lo, hi=hi, atom_style=style, velocities=vel, type_masses=type_masses,
                      path=path, pair_coeffs=pair_coeffs, **atoms)
    if expected_density is not None:
        _check_density(data, expected_density, header["xlo xhi"][1])
    return data


# ----------------------------------------------------------------------------- writing
def write_lammps_data(
    path,
    positions,
    diameters,
    box,
    *,
    lo=None,
    hi=None,
    atom_style: str = "charge",
    ids=None,
    image=None,
    types=None,
    densities=None,
    velocities=None,
    type_masses: dict | None = None,
    comment: str | None = None,
) -> Path:
    """Write a LAMMPS data file that LAMMPS ``read_data`` accepts and :func:`read_lammps_data` reads back exactly.

    positions (N,3) and diameters (N,) in sigma; box: float or (3,) edge lengths; lo: lower corner
    (default -box/2, the box centred at the origin); hi: upper corner (default lo + box).
    atom_style 'charge': columns id type sigma x y z [ix iy iz] and a Masses section (mass 1 per type,
    or type_masses).  atom_style 'sphere': columns id type sigma density x y z [ix iy iz] with
    density = 6/(pi sigma^3) (mass 1) unless densities are given; no Masses section (per-atom mass).
    Positions are written as given (not wrapped); image flags are written when given.
    """
    path = Path(path)
    if atom_style not in ATOM_STYLES:
        raise LammpsDataError(f"{path}: atom style {atom_style!r} is not supported; use one of {ATOM_STYLES}")
    x = np.asarray(positions, np.float64).reshape(-1, 3)
    n = x.shape[0]
    d = np.asarray(diameters, np.float64).reshape(-1)
    if d.size != n:
        raise LammpsDataError(f"{path}: {n} positions but {d.size} diameters")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(d))):
        raise LammpsDataError(f"{path}: refusing to write NaN/inf positions or diameters")
    L = box3(box)
    lo = -0.5 * L if lo is None else box3(lo)
    hi = lo + L if hi is None else box3(hi)
    ids = np.arange(1, n + 1) if ids is None else np.asarray(ids, np.int64).reshape(n)
    types = np.ones(n, np.int64) if types is None else np.asarray(types, np.int64).reshape(n)
    n_types = int(types.max())

    out = [comment or f"LAMMPS data file written by tlspipe {__version__} (atom_style {atom_style}"
           + ("; the charge column holds the diameter sigma)" if atom_style == "charge" else ")"), ""]
    out.append(f"{n} atoms")
    out.append(f"{n_types} atom types")
    out.append("")
    for k, ax in enumerate("xyz"):
        out.append(f"{lo[k]:.17g} {hi[k]:.17g} {ax}lo {ax}hi")
    out.append("")
    if atom_style in ("charge", "atomic"):
        out += ["Masses", ""]
        tm = type_masses or {}
        for t in range(1, n_types + 1):
            out.append(f"{t} {tm.get(t, 1.0):.17g}")
        out.append("")
        cols = [d, x[:, 0], x[:, 1], x[:, 2]] if atom_style == "charge" else [x[:, 0], x[:, 1], x[:, 2]]
    else:
        rho = sphere_density(d) if densities is None else np.asarray(densities, np.float64).reshape(n)
        cols = [d, rho, x[:, 0], x[:, 1], x[:, 2]]
    out += [f"Atoms # {atom_style}", ""]
    fl = np.column_stack(cols)
    fmt = " ".join(["%.17g"] * fl.shape[1])
    if image is not None:
        img = np.asarray(image, np.int64).reshape(n, 3)
        for k in range(n):
            out.append(f"{ids[k]} {types[k]} " + fmt % tuple(fl[k]) + f" {img[k, 0]} {img[k, 1]} {img[k, 2]}")
    else:
        for k in range(n):
            out.append(f"{ids[k]} {types[k]} " + fmt % tuple(fl[k]))
    if velocities is not None:
        v = np.asarray(velocities, np.float64).reshape(n, 3)
        out += ["", "Velocities", ""]
        for k in range(n):
            out.append(f"{ids[k]} %.17g %.17g %.17g" % tuple(v[k]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
    return path


def energy_from_filename(path) -> float | None:
    """The energy per particle that the authors put at the start of a file name
    (``2.044810139E-01.conf.txt`` -> 0.2044810139), or None when the name does not start with a number."""
    m = re.match(r"[-+]?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][-+]?\d+)?", Path(path).name)
    # a bare integer prefix such as '000123.data' is a counter, not an energy
    if not m or not any(c in m.group(0) for c in ".eE"):
        return None
    return float(m.group(0))
