"""Species of the most displaced particles of each pair, for stores of multi-type models.

``species_1..species_K`` (int64): the atom types (1-based, as in LAMMPS) of the K particles that move most
between IS a and IS b, the most displaced first, displacements taken by minimum image with the pair's mean
displacement (a global translation) removed, as the ``dr_k`` features.  Added to a pair table by
:func:`add_species` only when the store holds more than one atom type; a one-type store (the soft spheres) keeps
its table exactly as :func:`tlspipe.pairs.featurise_store` wrote it.  The feature columns of the table are left
as they are (the learners read :func:`tlspipe.columns.feature_columns` only).
"""

from __future__ import annotations

import numpy as np
from numba import njit

K_SPECIES = 3


@njit(cache=True)
def _species(pos, box, ia, ib, types, k, out):
    n = pos.shape[1]
    r2 = np.empty(n)
    for p in range(ia.size):
        a = pos[ia[p]]
        b = pos[ib[p]]
        t = np.zeros(3)
        d = np.empty((n, 3))
        for i in range(n):
            for c in range(3):
                q = b[i, c] - a[i, c]
                q -= box[c] * np.rint(q / box[c])
                d[i, c] = q
                t[c] += q
        for i in range(n):
            s = 0.0
            for c in range(3):
                q = d[i, c] - t[c] / n
                s += q * q
            r2[i] = s
        order = np.argsort(-r2)
        for j in range(k):
            out[p, j] = types[order[j]]


def pair_species(positions, box, types, is_a, is_b, k: int = K_SPECIES) -> np.ndarray:
    """(n_pairs, k) atom types of the k most displaced particles of each pair (module docstring)."""
    pos = np.ascontiguousarray(positions, np.float64)
    box = np.asarray(box, np.float64).reshape(-1)
    if box.size == 1:
        box = np.repeat(box, 3)
    ia = np.ascontiguousarray(is_a, np.int64)
    ib = np.ascontiguousarray(is_b, np.int64)
    out = np.empty((ia.size, min(k, pos.shape[1])), np.int64)
    _species(pos, box, ia, ib, np.ascontiguousarray(types, np.int64), out.shape[1], out)
    return out


def add_species(pairs_path, store_path, k: int = K_SPECIES) -> bool:
    """Add species_1..k to the pair table ``pairs_path`` (rewritten atomically, its schema metadata kept) when the
    store holds more than one atom type; False (the table untouched) otherwise."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .. import columns as C
    from ..store.isstore import read_store
    from ..util.io import atomic_path

    st = read_store(store_path)
    if st.types is None or len(np.unique(st.types)) < 2:
        return False
    t = pq.read_table(pairs_path)
    sp = pair_species(st.positions, st.box, st.types, t.column(C.IS_A).to_numpy(), t.column(C.IS_B).to_numpy(), k)
    for j in range(sp.shape[1]):
        name = f"species_{j + 1}"
        if name in t.column_names:
            t = t.drop([name])
        t = t.append_column(name, pa.array(sp[:, j]))
    with atomic_path(pairs_path, ".tmp.parquet") as tmp:
        pq.write_table(t, tmp)
    return True
