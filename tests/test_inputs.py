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


# ----------------------------------------------------------------------------- 2. IS identity up to a translation
from conftest import FIXTURE_DIR  # noqa: E402

FIXTURE_NAMES = ["2.044810139E-01.conf.txt", "2.046749726E-01.conf.txt"]


@pytest.fixture(scope="module")
def authors_pair():
    """The authors' two IS (a real local rearrangement: d 1.12 sigma, dr_1 0.73 sigma)."""
    from tlspipe.store.lammps import read_lammps_data

    if not FIXTURE_DIR.is_dir():
        pytest.skip("fixture ciarella2023_T0.062 not available")
    return [read_lammps_data(FIXTURE_DIR / n) for n in FIXTURE_NAMES]


def _translated(x, box, t):
    y = x + np.asarray(t)
    return y - box * np.floor(y / box + 0.5)


def test_a_translated_minimum_is_one_is_and_a_local_hop_two(authors_pair):
    from tlspipe.sample.explore import ISRegistry, merge_trajectories

    a, b = authors_pair
    box = a.box
    ea, eb = 0.2044810139, 0.2046749726
    reg = ISRegistry(box, energy_tol=1e-9, position_tol=1e-3)
    ka = reg.add(ea, a.wrapped(), 0.0, 0)
    assert reg.add(ea, _translated(a.wrapped(), box, [0.3, 0, 0]), 1.0, 0) == ka  # 0.3 sigma along x
    assert reg.add(ea, _translated(a.wrapped(), box, [0.3, -0.2, 0.45 * box[2]]), 2.0, 0) == ka
    kb = reg.add(ea, b.wrapped(), 3.0, 0)  # the real hop (given the same energy: positions decide)
    assert kb != ka and reg.visits[ka] == 3
    # across trajectories: the merge identifies them the same way
    r0 = {"energies": np.array([ea]), "positions": a.wrapped()[None], "first_seen": np.array([0.1]),
          "visits": np.array([1]), "sequence": np.array([0])}
    r1 = {"energies": np.array([ea, eb]), "positions": np.stack([_translated(a.wrapped(), box, [0.3, 0, 0]),
                                                                 b.wrapped()]),
          "first_seen": np.array([0.1, 0.2]), "visits": np.array([1, 1]), "sequence": np.array([0, 1])}
    st = merge_trajectories([r0, r1], a.diameters, box, 1e-9, 1e-3)
    assert st.n_is == 2 and list(st.visits) == [2, 1]


def test_import_merges_a_translated_copy_and_features_remove_a_translation(authors_pair, tmp_path, capsys):
    from tlspipe.pairs import featurise_store
    from tlspipe.store.lammps import write_lammps_data

    a, b = authors_pair
    d = tmp_path / "g"
    d.mkdir()
    for n in FIXTURE_NAMES:
        (d / n).write_bytes((FIXTURE_DIR / n).read_bytes())
    write_lammps_data(d / "2.044810139E-01.shifted.conf.txt", _translated(a.wrapped(), a.box, [0.3, 0, 0]),
                      a.diameters, a.box)
    rc, out, _ = _run(capsys, "import-lammps", d, "--out", tmp_path / "st" / "is.h5")
    info = json.loads(out)
    assert rc == 0 and info["n_is"] == 2 and len(info["duplicates"]) == 1
    # a store that holds the copy anyway (made elsewhere): its pair with the original has d = 0, and its
    # pair with the other IS the features of the real hop
    st = read_store(tmp_path / "st" / "is.h5")
    three = ISStore(diameters=st.diameters, box=st.box, energy=[st.energy[0], st.energy[1], st.energy[0]],
                    positions=np.stack([st.positions[0], st.positions[1],
                                        _translated(st.positions[0], st.box, [0.3, 0, 0])]))
    p = write_store(tmp_path / "h" / "is.h5", three)
    featurise_store(p, tmp_path / "pairs.parquet")
    import pandas as pd

    df = pd.read_parquet(tmp_path / "pairs.parquet").set_index(["is_a", "is_b"]).sort_index()
    assert df.loc[(0, 2), "d"] < 1e-9 and df.loc[(0, 2), "pr"] == 0.0
    for c in ("d", "pr", "dr_1", "dist_1_2"):
        assert df.loc[(2, 1), c] == pytest.approx(df.loc[(0, 1), c], rel=1e-9), c
    assert df.loc[(0, 1), "d"] == pytest.approx(1.117697, rel=1e-6)  # the authors' total_displacement
