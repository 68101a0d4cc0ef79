"""HDF5 store of the inherent structures (IS) of one glass.

Layout (one file per glass, ``is.h5``)::

    attrs:  format="tlspipe-is-store", format_version=2, n_particles, glass, tf, seed,
            tlspipe_version, model constants (rc_factor, nonadd, c0, c2, c4),
            transitions_observed (bool: False for stores imported from files),
            energy_tol, position_tol (how distinct IS were told apart),
            content_sha256 (sha256 of diameters, box, positions, energy: see content_hash)
    diameters   (N,)          float64   sigma_i (fixed: swaps happen only before the glass is made)
    box         (3,)          float64   edge lengths of the periodic orthorhombic box (cubic in practice)
    positions   (n_is, N, 3)  float64   IS coordinates, wrapped into [-L/2, L/2)
    energy      (n_is,)       float64   potential energy per particle, epsilon
    first_seen  (n_is,)       float64   MD time at which the IS was first reached (NaN: imported)
    first_traj  (n_is,)       int64     trajectory that first reached it (-1: imported)
    types, masses (N,)        int64, float64  atom types and masses (optional; with model_name,
                                        model_sha256, model_text attrs: the model, see tlspipe.models)
    visits      (n_is,)       int64     how many quenches ended in it
    transitions/src, transitions/dst, transitions/count  (n_t,) int64
                                        directed counts of consecutive quenches src -> dst (src != dst)

IS are stored in order of discovery, so appending keeps old indices valid (pairs are featurised
incrementally).  Writes go to ``<name>.tmp`` and are renamed when complete: a store is never half-written.

Integrity: every dataset is chunked with HDF5's fletcher32 checksum filter, so a chunk whose bytes changed
after writing fails when it is read (a StoreError naming the file and the dataset), and ``content_sha256``
lets :func:`content_hash` check the whole content.  Every reader checks it: :func:`read_store` does (unless
``verify=False``), so ``tlspipe inspect``, ``tlspipe features`` and ``tlspipe neb`` (and the workflow's rules
that run them) refuse a store whose ``diameters``, ``box``, ``positions`` or ``energy`` were changed after it
was written, even by a valid HDF5 edit.  The check costs one pass over the coordinates per process and file
(the digest is remembered for an unchanged file: same inode, size and modification time), never one per
pair; :func:`read_positions`, the per-pair read, relies on it.  Stores of format_version 1 (before
checksums) are read as before, unchecked; ``tlspipe inspect`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .. import __version__, model
from ..util.io import atomic_path
from ..util.periodic import box3

FORMAT = "tlspipe-is-store"
FORMAT_VERSION = 2  # 2: fletcher32 on every dataset and the content_sha256 attribute


class StoreError(ValueError):
    """A store file that cannot be used; the message names the file and the fix."""


@dataclass
class ISStore:
    diameters: np.ndarray
    box: np.ndarray
    positions: np.ndarray  # (n_is, N, 3)
    energy: np.ndarray  # per particle
    first_seen: np.ndarray | None = None
    first_traj: np.ndarray | None = None
    visits: np.ndarray | None = None
    trans_src: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trans_dst: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trans_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    attrs: dict = field(default_factory=dict)
    types: np.ndarray | None = None  # (N,) atom types, 1-based (None: one type; see tlspipe.models)
    masses: np.ndarray | None = None  # (N,) particle masses (None: all 1)

    def __post_init__(self):
        self.diameters = np.asarray(self.diameters, np.float64)
        self.box = box3(self.box)
        self.positions = np.asarray(self.positions, np.float64).reshape(-1, self.diameters.size, 3)
        self.energy = np.asarray(self.energy, np.float64).reshape(-1)
        n = self.n_is
        if self.energy.size != n:
            raise StoreError(f"{n} IS but {self.energy.size} energies")
        if self.first_seen is None:
            self.first_seen = np.full(n, np.nan)
        if self.first_traj is None:
            self.first_traj = np.full(n, -1, np.int64)
        if self.visits is None:
            self.visits = np.ones(n, np.int64)
        self.first_seen = np.asarray(self.first_seen, np.float64)
        self.first_traj = np.asarray(self.first_traj, np.int64)
        self.visits = np.asarray(self.visits, np.int64)
        self.trans_src = np.asarray(self.trans_src, np.int64)
        self.trans_dst = np.asarray(self.trans_dst, np.int64)
        self.trans_count = np.asarray(self.trans_count, np.int64)

    @property
    def n_is(self) -> int:
        return self.positions.shape[0]

    @property
    def n_particles(self) -> int:
        return self.diameters.size

    def transition_matrix(self):
        """Sparse (scipy CSR) directed counts T[src, dst]."""
        from scipy.sparse import coo_matrix

        n = self.n_is
        return coo_matrix((self.trans_count, (self.trans_src, self.trans_dst)), shape=(n, n)).tocsr()

    def summary(self) -> dict:
        return {
            "n_particles": self.n_particles,
            "box_length": float(self.box[0]),
            "n_is": self.n_is,
            "energy_per_particle_min": float(self.energy.min()) if self.n_is else None,
            "energy_per_particle_max": float(self.energy.max()) if self.n_is else None,
            "n_transitions": int(self.trans_count.sum()),
            "n_transition_pairs": int(self.trans_count.size),
            "transitions_observed": bool(self.attrs.get("transitions_observed", True)),
        }


def write_store(path, store: ISStore, **attrs) -> Path:
    """Write atomically: to ``path.tmp``, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    all_attrs = dict(store.attrs)
    all_attrs.update(attrs)
    all_attrs.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        n_particles=store.n_particles,
        tlspipe_version=__version__,
        rc_factor=model.RC_FACTOR,
        nonadd=model.NONADD,
        c0=model.C0,
        c2=model.C2,
        c4=model.C4,
    )
    all_attrs.setdefault("transitions_observed", True)
    all_attrs["content_sha256"] = _hash_arrays(store.diameters, store.box, store.positions, store.energy)
    n = store.n_particles

    def put(group, name, data, chunks=True):  # chunked (fletcher32 needs it), growable along the first axis
        group.create_dataset(name, data=data, chunks=chunks, maxshape=(None,) + np.shape(data)[1:],
                             fletcher32=True)

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h:
        for k, v in all_attrs.items():
            if v is None:
                continue
            h.attrs[k] = v
        put(h, "diameters", store.diameters)
        put(h, "box", store.box)
        put(h, "positions", store.positions, chunks=(1, n, 3))  # one IS per chunk: reads of single IS
        for name in ("energy", "first_seen", "first_traj", "visits"):
            put(h, name, getattr(store, name))
        for name in ("types", "masses"):  # the model's per-particle data, when the store has them
            if getattr(store, name, None) is not None:
                put(h, name, np.asarray(getattr(store, name)))
        g = h.create_group("transitions")
        for name in ("src", "dst", "count"):
            put(g, name, getattr(store, f"trans_{name}"))
    return path


def _check_file(path: Path, h: h5py.File):
    if h.attrs.get("format") != FORMAT:
        raise StoreError(f"{path}: not a tlspipe IS store (attribute format={h.attrs.get('format')!r}); "
                         "build one with 'tlspipe import-lammps' or the explore rule")
    for name in ("diameters", "box", "positions", "energy"):
        if name not in h:
            raise StoreError(f"{path}: dataset '{name}' is missing; the file is truncated or was not "
                             "written by tlspipe - delete it and rerun the rule that makes it")


def open_store(path) -> h5py.File:
    """The store opened for reading; a missing, non-HDF5 or truncated file is a StoreError naming it."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such IS store")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if b"atoms" in head and b"\0" not in head:
            raise StoreError(f"{path}: a text file (LAMMPS data?), not an IS store; make a store of LAMMPS "
                             "minima with 'tlspipe import-lammps DIR --out is.h5'") from e
        raise StoreError(f"{path}: cannot be read as HDF5 ({e}); the file is corrupt or truncated - "
                         "delete it and rerun the rule that makes it") from e


def read_checked(path: Path, ds: h5py.Dataset, sel):
    """ds[sel]; a chunk that fails its checksum (or cannot be decoded) is a StoreError naming the file."""
    try:
        return ds[sel]
    except OSError as e:
        raise StoreError(f"{path}: dataset '{ds.name.lstrip('/')}' is damaged ({e}): the file changed after "
                         "it was written - restore it from a copy, or delete it and rerun the rule that "
                         "makes it") from e


def read_store(path, positions: bool = True, verify: bool = True) -> ISStore:
    """Read a whole store.  ``positions=False`` skips the (large) coordinates (an empty array is put).
    ``verify``: check the content against its ``content_sha256`` (a StoreError when it changed): from the
    arrays read when positions are read, else by :func:`content_hash` (one streamed pass, remembered)."""
    with StoreHandle(path) as s:
        return s.read(positions, verify=verify)


def _read_store(path: Path, h: h5py.File, positions: bool, verify: bool = True) -> ISStore:
    """read_store from the checked, open store h of path."""

    def get(name, default=None):
        return read_checked(path, h[name], ...) if name in h else default

    diam = get("diameters")
    n_is = h["energy"].shape[0]
    pos = get("positions") if positions else np.zeros((n_is, diam.size, 3))
    empty = np.zeros(0, np.int64)
    if verify and positions:
        _check_digest(path, h.attrs.get("content_sha256"), _hash_arrays(diam, get("box"), pos, get("energy")))
    return ISStore(
        diameters=diam,
        box=get("box"),
        positions=pos,
        energy=get("energy"),
        first_seen=get("first_seen"),
        first_traj=get("first_traj"),
        visits=get("visits"),
        trans_src=get("transitions/src", empty),
        trans_dst=get("transitions/dst", empty),
        trans_count=get("transitions/count", empty),
        attrs={k: (v.item() if hasattr(v, "item") else v) for k, v in h.attrs.items()},
        types=get("types"),
        masses=get("masses"),
    )


def glass_name(path, attrs: dict | None = None) -> str:
    """The glass a store belongs to, the one rule of every command: its ``glass`` attribute when set, else
    the name of the folder holding it (the workflow's layout is ``glasses/{glass}/is.h5``).  ``attrs``: the
    store's attributes when already read."""
    path = Path(path)
    if attrs is None:
        with open_store(path) as h:
            attrs = dict(h.attrs)
    name = attrs.get("glass")
    name = name.decode() if isinstance(name, bytes) else name
    return str(name) if name else path.resolve().parent.name


#: datasets that make a store's content (what its IS are); the content hash covers these
CONTENT_DATASETS = ("diameters", "box", "positions", "energy")


def _hash_arrays(*arrays, sha=None):
    import hashlib

    sha = sha or hashlib.sha256()
    for a in arrays:
        sha.update(np.ascontiguousarray(a, "<f8").tobytes())
    return sha.hexdigest()


#: digests already checked in this process: (resolved path, inode, size, mtime_ns) -> sha256
_CHECKED: dict[tuple, str] = {}


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


def _check_digest(path: Path, stored, digest: str):
    if stored is not None and stored != digest:
        raise StoreError(f"{path}: its content does not match the sha256 it was written with (content_sha256 "
                         f"{stored[:12]}..., now {digest[:12]}...): the file changed after it was written - "
                         "restore it from a copy, or delete it and rerun the rule that makes it")


def content_hash(path) -> str:
    """sha256 of the content datasets (diameters, box, positions, energy; little-endian float64, in that
    order): the identity of the IS a store holds, whatever the file's layout or other attributes.  Checked
    against the store's ``content_sha256`` attribute when it has one: a mismatch is a StoreError.  The digest
    of a file already checked, and unchanged since (inode, size, modification time), is not recomputed."""
    with StoreHandle(path) as s:
        return s.content_hash()


def _content_hash(path: Path, h: h5py.File) -> str:
    """content_hash from the checked, open store h of path (remembered per unchanged file)."""
    import hashlib

    try:
        key = _file_key(path)
    except OSError:
        key = None
    if key is not None and key in _CHECKED:
        return _CHECKED[key]
    sha = hashlib.sha256()
    for name in CONTENT_DATASETS:
        ds = h[name]
        if name == "positions":  # a few IS at a time: a store may not fit in memory
            step = max(1, (1 << 24) // max(1, 24 * ds.shape[1]))
            for i in range(0, ds.shape[0], step):
                _hash_arrays(read_checked(path, ds, slice(i, i + step)), sha=sha)
        else:
            _hash_arrays(read_checked(path, ds, ...), sha=sha)
    digest = sha.hexdigest()
    _check_digest(path, h.attrs.get("content_sha256"), digest)
    if key is not None:
        _CHECKED[key] = digest
    return digest


def read_positions(path, indices) -> np.ndarray:
    """Coordinates of selected IS only, shape (len(indices), N, 3)."""
    with StoreHandle(path) as s:
        return s.positions(indices)


def _read_positions(path: Path, h: h5py.File, indices) -> np.ndarray:
    """read_positions from the checked, open store h of path."""
    idx = np.asarray(indices, np.int64)
    ds = h["positions"]
    order = np.argsort(idx)
    out = np.empty((idx.size,) + ds.shape[1:])
    out[order] = read_checked(path, ds, idx[order]) if np.all(np.diff(idx[order]) > 0) else np.stack(
        [read_checked(path, ds, i) for i in idx[order]])
    return out


class StoreHandle:
    """A store opened and checked once, for a job that reads it several times (a NEB job: the header, the
    content hash, the two IS of every pair): ``with StoreHandle(path) as s: s.read(positions=False);
    s.content_hash(); s.positions([a, b])``, with the checks and errors of :func:`read_store`,
    :func:`content_hash` and :func:`read_positions` (which each open the file for one read)."""

    def __init__(self, path):
        self.path = Path(path)
        self.h = open_store(self.path)
        try:
            _check_file(self.path, self.h)
        except BaseException:
            self.h.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.h.close()

    def read(self, positions: bool = True, verify: bool = True) -> ISStore:
        """:func:`read_store` from this handle."""
        if verify and not positions:
            self.content_hash()
        return _read_store(self.path, self.h, positions, verify)

    def content_hash(self) -> str:
        """:func:`content_hash` from this handle."""
        return _content_hash(self.path, self.h)

    def positions(self, indices) -> np.ndarray:
        """:func:`read_positions` from this handle."""
        return _read_positions(self.path, self.h, indices)
