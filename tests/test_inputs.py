"""Inputs that used to finish with exit 0 and a wrong answer, or with a raw error: each is now refused with a
message naming the file or key and the fix (README, "Reliability")."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tlspipe.cli import main
from tlspipe.store.isstore import ISStore, StoreError, read_store, write_store


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _small_store(path, n_is=4, n=30, box=4.0, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(-box / 2, box / 2, (n, 3))
    pos = base + rng.normal(0, 0.05, (n_is, n, 3))
    pos -= box * np.floor(pos / box + 0.5)
    st = ISStore(diameters=np.ones(n), box=np.full(3, box), positions=pos,
                 energy=np.linspace(0.1, 0.1 + 0.5 / n, n_is))
    return write_store(path, st)


# ----------------------------------------------------------------------------- 1. every reader checks the hash
@pytest.mark.parametrize("dataset, edit", [("positions", lambda d: d.__setitem__((1, 5, 0), d[1, 5, 0] + 0.5)),
                                           ("box", lambda d: d.__setitem__(0, d[0] * 1.01)),
                                           ("energy", lambda d: d.__setitem__(2, d[2] + 1e-3))])
def test_features_refuse_a_store_edited_with_h5py(tmp_path, capsys, dataset, edit):
    p = _small_store(tmp_path / "g" / "is.h5")
    with h5py.File(p, "r+") as h:  # a valid HDF5 edit: the chunk checksums are rewritten
        edit(h[dataset])
    rc, out, err = _run(capsys, "features", p, "--out", tmp_path / "pairs.parquet")
    assert rc == 1 and str(p) in err and "does not match the sha256" in err and "restore it" in err
    assert not (tmp_path / "pairs.parquet").exists()
    with pytest.raises(StoreError, match="does not match the sha256"):
        read_store(p)  # every reader: the library's too
    with pytest.raises(StoreError, match="does not match the sha256"):
        read_store(p, positions=False)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, _, err = _run(capsys, "neb", p, "--pairs", pairs, "--out", tmp_path / "e.parquet")
    assert rc == 1 and str(p) in err and "does not match the sha256" in err


def test_an_unchanged_store_is_hashed_once_per_process(tmp_path, monkeypatch):
    from tlspipe.store import isstore

    p = _small_store(tmp_path / "g" / "is.h5")
    calls = []
    real = isstore._hash_arrays
    monkeypatch.setattr(isstore, "_hash_arrays", lambda *a, **k: calls.append(1) or real(*a, **k))
    isstore.content_hash(p)
    n_first = len(calls)
    read_store(p, positions=False)
    isstore.content_hash(p)
    assert n_first > 0 and len(calls) == n_first
