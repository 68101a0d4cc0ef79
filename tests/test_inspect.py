"""`tlspipe inspect` and `tlspipe import-lammps` on the authors' inherent structures."""

from __future__ import annotations

import json
import shutil
import warnings

import h5py
import numpy as np
import pytest

from conftest import FIXTURE_DIR

from tlspipe import model
from tlspipe.cli import main
from tlspipe.store.importer import LammpsImportError, import_lammps_dir
from tlspipe.store.isstore import ISStore, read_store, write_store
from tlspipe.store.lammps import read_lammps_data, write_lammps_data

FIX = FIXTURE_DIR  # the authors' two inherent structures (tests/conftest.py; TLSPIPE_FIXTURES overrides)
NAMES = ["2.044810139E-01.conf.txt", "2.046749726E-01.conf.txt"]
EXPECTED = json.loads((FIX / "expected.json").read_text())


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _brute_energy(x, d, L):
    """Independent reference: all pairs, numpy, minimum image (total energy, epsilon)."""
    dx = x[:, None, :] - x[None, :, :]
    dx -= L * np.round(dx / L)
    r = np.sqrt((dx**2).sum(-1))
    iu = np.triu_indices(len(x), 1)
    return model.pair_potential(r[iu], model.sigma_ij(d[:, None], d[None, :])[iu]).sum()


@pytest.mark.parametrize("name", NAMES)
def test_inspect_fixture_energy_matches_file_name(capsys, name):
    rc, out, _ = _run(capsys, "inspect", FIX / name)
    assert rc == 0
    info = json.loads(out)
    e_name = EXPECTED["energy_per_particle"][name]
    assert info["kind"] == "lammps_data"
    assert info["n_particles"] == EXPECTED["model"]["N"]
    assert abs(info["box_length"] - EXPECTED["model"]["box_length"]) < 1e-9
    assert abs(info["energy_per_particle"] - e_name) <= 1e-9
    assert info["max_force"] < 1e-3
    d = read_lammps_data(FIX / name).diameters
    assert info["mean_diameter"] == pytest.approx(d.mean(), rel=1e-14)


def test_brute_force_reference_agrees_with_inspect(capsys):
    """The native engine against an all-pairs numpy sum (an independent implementation) on a real IS."""
    data = read_lammps_data(FIX / NAMES[0])
    e_ref = _brute_energy(data.positions, data.diameters, data.box[0]) / data.n_particles
    rc, out, _ = _run(capsys, "inspect", "--compact", FIX / NAMES[0])
    assert abs(json.loads(out)["energy_per_particle"] - e_ref) < 1e-12


def test_inspect_store_by_content_not_extension(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n, L = 20, 4.0
    st = ISStore(diameters=model.diameters(n), box=L, positions=rng.uniform(-2, 2, (3, n, 3)),
                 energy=[0.3, 0.1, 0.2], trans_src=[0, 1, 2], trans_dst=[1, 0, 0], trans_count=[4, 2, 1],
                 attrs={"glass": "g7"})
    p = write_store(tmp_path / "store.h5", st)
    odd = tmp_path / "store.dat"  # HDF5 content under another extension
    shutil.copy(p, odd)
    rc, out, _ = _run(capsys, "inspect", odd)
    info = json.loads(out)
    assert rc == 0 and info["kind"] == "is_store"
    assert info["n_is"] == 3 and info["glass"] == "g7"
    assert info["energy_per_particle_min"] == 0.1 and info["energy_per_particle_max"] == 0.3
    assert info["n_transitions"] == 7 and info["n_transition_pairs"] == 3
    # and a LAMMPS file named like a store is read as LAMMPS
    lam = tmp_path / "fake.h5"
    shutil.copy(FIX / NAMES[1], lam)
    rc, out, _ = _run(capsys, "inspect", lam)
    assert json.loads(out)["kind"] == "lammps_data"


def test_inspect_bad_file_is_a_clear_error(tmp_path, capsys):
    p = tmp_path / "broken.data"
    p.write_text("\n".join((FIX / NAMES[0]).read_text().splitlines()[:100]) + "\n")
    rc, out, err = _run(capsys, "inspect", p)
    assert rc == 1 and "broken.data" in err and "truncated" in err


# ----------------------------------------------------------------------------- import-lammps
@pytest.fixture
def glass_dir(tmp_path):
    d = tmp_path / "Cnf-148750000"
    d.mkdir()
    for name in NAMES:
        shutil.copy(FIX / name, d / name)
    return d


def test_import_two_fixture_structures(glass_dir, tmp_path, capsys):
    out = tmp_path / "is.h5"
    rc, stdout, _ = _run(capsys, "import-lammps", glass_dir, "--out", out, "--density", "1")
    assert rc == 0
    summary = json.loads(stdout)
    assert summary["n_is"] == 2 and summary["glass"] == "Cnf-148750000"
    st = read_store(out)
    e_names = [EXPECTED["energy_per_particle"][n] for n in NAMES]
    np.testing.assert_allclose(st.energy, sorted(e_names), atol=1e-9)
    assert st.attrs["transitions_observed"] is False or st.attrs["transitions_observed"] == 0
    assert st.trans_count.size == 0 and st.transition_matrix().nnz == 0
    np.testing.assert_array_equal(st.visits, [1, 1])
    L = st.box[0]
    assert np.all(st.positions >= -L / 2) and np.all(st.positions < L / 2)
    for k, name in enumerate(sorted(NAMES)):  # ascending energy = ascending names here
        data = read_lammps_data(glass_dir / name)
        np.testing.assert_array_equal(st.diameters, data.diameters)
        dx = st.positions[k] - data.positions
        np.testing.assert_allclose(dx - L * np.round(dx / L), 0, atol=1e-12)
    # the store's pair distance reproduces the authors' total displacement of this pair
    dx = st.positions[1] - st.positions[0]
    dx -= L * np.round(dx / L)
    assert np.sqrt((dx**2).sum()) == pytest.approx(EXPECTED["pair_features_authors"]["total_displacement"], rel=1e-5)
    assert 1500 * (st.energy[1] - st.energy[0]) == pytest.approx(EXPECTED["pair_features_authors"]["Delta_E"],
                                                                 abs=1e-5)
    # inspect reports it
    rc, stdout, _ = _run(capsys, "inspect", out)
    info = json.loads(stdout)
    assert info["n_is"] == 2 and info["n_transitions"] == 0 and info["transitions_observed"] is False


def test_wrong_energy_in_name_is_an_error(glass_dir, tmp_path, capsys):
    bad = glass_dir / "2.044810300E-01.conf.txt"
    shutil.copy(FIX / NAMES[0], bad)
    rc, _, err = _run(capsys, "import-lammps", glass_dir, "--out", tmp_path / "is.h5")
    assert rc == 1 and "2.044810300E-01.conf.txt" in err and "file name says" in err
    assert not (tmp_path / "is.h5").exists()
    with pytest.raises(LammpsImportError, match=r"2\.044810300E-01\.conf\.txt"):
        import_lammps_dir(glass_dir, tmp_path / "is.h5")


def test_duplicates_are_merged(glass_dir, tmp_path):
    # the same IS shifted by whole box lengths, under another name: one IS visited twice
    data = read_lammps_data(FIX / NAMES[0])
    write_lammps_data(glass_dir / "copy.data", data.positions + data.box * [1, -2, 0], data.diameters, data.box)
    s = import_lammps_dir(glass_dir, tmp_path / "is.h5")
    assert s["n_is"] == 2 and s["visits"] == [2, 1]
    assert sorted(s["duplicates"][0]) == sorted(["copy.data", NAMES[0]])
    # a real (if small) displacement is another structure
    x = data.positions.copy()
    x[5, 0] += 1e-5
    write_lammps_data(glass_dir / "moved.data", x, data.diameters, data.box)
    s = import_lammps_dir(glass_dir, tmp_path / "is2.h5", ftol=1e-2)
    assert s["n_is"] == 3


def test_non_minimum_is_reminimised_or_rejected(glass_dir, tmp_path):
    data = read_lammps_data(FIX / NAMES[1])
    x = data.positions.copy()
    x[100] += 0.03  # a large force on particle id 101
    # the name carries the old energy: it must not be checked for a re-minimised structure
    write_lammps_data(glass_dir / "2.046749726E-01.kicked.txt", x, data.diameters, data.box)
    with pytest.warns(RuntimeWarning, match=r"2\.046749726E-01\.kicked\.txt.*re-minimised"):
        s = import_lammps_dir(glass_dir, tmp_path / "is.h5")
    assert s["reminimised"] == ["2.046749726E-01.kicked.txt"]
    k = s["sources"].index(["2.046749726E-01.kicked.txt"])
    assert s["max_force"][k] < 1e-10
    st = read_store(tmp_path / "is.h5")
    from tlspipe.engine import ForceField

    e, f = ForceField(st.diameters, st.box).energy_forces(st.positions[k])
    assert abs(e / 1500 - st.energy[k]) < 1e-12 and np.sqrt((f**2).sum(1)).max() < 1e-9
    # it relaxed back into the authors' minimum (which was minimised less tightly)
    assert abs(st.energy[k] - EXPECTED["energy_per_particle"][NAMES[1]]) < 1e-9

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = import_lammps_dir(glass_dir, tmp_path / "is2.h5", reminimise=False)
    assert s["n_is"] == 2 and [r["file"] for r in s["rejected"]] == ["2.046749726E-01.kicked.txt"]
    assert any("kicked" in str(m.message) and "rejected" in str(m.message) for m in w)


def test_another_glass_or_junk_is_an_error(glass_dir, tmp_path, capsys):
    data = read_lammps_data(FIX / NAMES[0])
    sub = tmp_path / "other"
    shutil.copytree(glass_dir, sub)
    write_lammps_data(sub / "permuted.data", data.positions, data.diameters[::-1], data.box)
    with pytest.raises(LammpsImportError, match=r"permuted\.data.*another glass"):
        import_lammps_dir(sub, tmp_path / "x.h5")
    (sub / "permuted.data").unlink()
    write_lammps_data(sub / "bigger.data", data.positions, data.diameters, data.box * 1.01)
    with pytest.raises(LammpsImportError, match=r"bigger\.data.*box"):
        import_lammps_dir(sub, tmp_path / "x.h5")
    (sub / "bigger.data").unlink()
    shutil.copy(FIX / "expected.json", sub / "expected.json")
    rc, _, err = _run(capsys, "import-lammps", sub, "--out", tmp_path / "x.h5")
    assert rc == 1 and "expected.json" in err and "--pattern" in err
    rc, out, _ = _run(capsys, "import-lammps", sub, "--out", tmp_path / "x.h5", "--pattern", "*.conf.txt")
    assert rc == 0 and json.loads(out)["n_is"] == 2
    with h5py.File(tmp_path / "x.h5") as h:
        assert json.loads(h.attrs["source_files"]) == [[NAMES[0]], [NAMES[1]]]


def test_a_box_at_another_density_is_an_error_unless_asked_for(tmp_path, capsys):
    """A structure whose box does not hold the model's density 1 is refused, naming the file and --density;
    --density with the density the user means imports it."""
    data = read_lammps_data(FIX / NAMES[0])
    d = tmp_path / "misboxed"
    d.mkdir()
    box = data.box * 1.01  # a mis-boxed file: valid LAMMPS, not a minimum at this box, density 0.9706
    write_lammps_data(d / "a.data", data.positions, data.diameters, box)
    rho = data.n_particles / np.prod(box)
    rc, _, err = _run(capsys, "import-lammps", d, "--out", tmp_path / "x.h5")
    assert rc == 1 and "a.data" in err and f"density {rho:.10g}" in err and "--density" in err
    assert "--pattern" not in err  # a valid LAMMPS file: no advice to leave it out
    assert not (tmp_path / "x.h5").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # re-minimised at the density asked for
        rc, out, _ = _run(capsys, "import-lammps", d, "--out", tmp_path / "x.h5", "--density", f"{rho:.12g}")
    assert rc == 0 and json.loads(out)["n_is"] == 1
    with pytest.raises(LammpsImportError, match=r"a\.data.*density"):
        import_lammps_dir(d, tmp_path / "y.h5")  # the library's default is the model's density too


# ----------------------------------------------------------------------------- store integrity
@pytest.fixture
def fixture_store(tmp_path):
    """The authors' two IS in a store written by tlspipe."""
    a, b = (read_lammps_data(FIX / n) for n in NAMES)
    st = ISStore(diameters=a.diameters, box=a.box, positions=np.stack([a.wrapped(), b.wrapped()]),
                 energy=[EXPECTED["energy_per_particle"][n] for n in NAMES], attrs={"glass": "g0"})
    return write_store(tmp_path / "g0" / "is.h5", st)


def test_store_checksums_verified_by_inspect(fixture_store, capsys):
    rc, out, _ = _run(capsys, "inspect", fixture_store)
    info = json.loads(out)
    assert rc == 0 and info["checksums"] == "verified" and len(info["content_sha256"]) == 64
    with h5py.File(fixture_store) as h:
        assert all(h[k].fletcher32 for k in ("diameters", "box", "positions", "energy", "visits",
                                             "transitions/src"))


def test_overwritten_bytes_in_positions_are_an_error_naming_the_file(fixture_store, tmp_path, capsys):
    """The issue's case: 800 bytes overwritten in the positions gave exit 0 and dist_1_2 5.657 for 4.652."""
    with h5py.File(fixture_store) as h:
        off = h["positions"].id.get_chunk_info(1).byte_offset
    with open(fixture_store, "r+b") as fh:
        fh.seek(off + 4000)
        fh.write(bytes(800))
    rc, out, err = _run(capsys, "inspect", fixture_store)
    assert rc == 1 and out == ""
    assert str(fixture_store) in err and "'positions' is damaged" in err and "restore it from a copy" in err
    rc, _, err = _run(capsys, "features", fixture_store, "--out", tmp_path / "pairs.parquet")
    assert rc == 1 and str(fixture_store) in err and "'positions' is damaged" in err
    assert not (tmp_path / "pairs.parquet").exists()


def test_content_changed_in_place_fails_its_sha256(fixture_store, capsys):
    with h5py.File(fixture_store, "r+") as h:  # a valid HDF5 edit: the chunk checksum is rewritten too
        h["energy"][0] = 0.3
    rc, _, err = _run(capsys, "inspect", fixture_store)
    assert rc == 1 and str(fixture_store) in err and "does not match the sha256" in err


def test_store_written_before_checksums_is_still_read(fixture_store, tmp_path, capsys):
    old = tmp_path / "old.h5"
    with h5py.File(fixture_store) as src, h5py.File(old, "w") as h:  # format 1: contiguous, no checksums
        for k, v in src.attrs.items():
            if k != "content_sha256":
                h.attrs[k] = v
        h.attrs["format_version"] = 1
        for k in ("diameters", "box", "positions", "energy", "first_seen", "first_traj", "visits",
                  "transitions/src", "transitions/dst", "transitions/count"):
            h.create_dataset(k, data=src[k][...])
    rc, out, _ = _run(capsys, "inspect", old)
    info = json.loads(out)
    assert rc == 0 and info["checksums"].startswith("none") and info["n_is"] == 2
    np.testing.assert_array_equal(read_store(old).positions, read_store(fixture_store).positions)
    assert _run(capsys, "features", old, "--out", tmp_path / "pairs.parquet")[0] == 0


def test_a_lammps_file_given_as_a_store_says_how_to_make_one(tmp_path, capsys):
    """A valid LAMMPS data file is not 'corrupt': the message says to import it."""
    rc, _, err = _run(capsys, "features", FIX / NAMES[0], "--out", tmp_path / "p.parquet")
    assert rc == 1 and NAMES[0] in err and "tlspipe import-lammps" in err and "corrupt" not in err
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("is_a,is_b\n0,1\n")
    rc, _, err = _run(capsys, "neb", FIX / NAMES[0], "--pairs", pairs, "--out", tmp_path / "e.parquet")
    assert rc == 1 and NAMES[0] in err and "tlspipe import-lammps" in err and "corrupt" not in err
