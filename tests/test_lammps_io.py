"""LAMMPS data files: reading the authors' files, exact round trips, and clear errors on bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_DIR

from tlspipe.store.lammps import (
    LammpsData,
    LammpsDataError,
    energy_from_filename,
    read_lammps_data,
    sphere_density,
    wrap_centered,
    write_lammps_data,
)

FIX = FIXTURE_DIR  # the authors' two inherent structures (tests/conftest.py; TLSPIPE_FIXTURES overrides)
F1 = FIX / "2.044810139E-01.conf.txt"
F2 = FIX / "2.046749726E-01.conf.txt"
L_FIX = 11.447142426


def _atom_rows(path):
    """Independent parse of the fixture: every line with 9 numeric fields is an atom line."""
    rows = []
    for line in Path(path).read_text().splitlines():
        t = line.split()
        if len(t) == 9:
            rows.append([float(v) for v in t])
    return np.array(rows)


def _assert_same(a: LammpsData, b: LammpsData):
    for name in ("positions", "diameters", "box", "lo", "hi", "ids", "types"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("image", "densities", "velocities"):
        u, v = getattr(a, name), getattr(b, name)
        assert (u is None) == (v is None), name
        if u is not None:
            np.testing.assert_array_equal(u, v, err_msg=name)


# ----------------------------------------------------------------------------- the authors' files
def test_read_fixture_matches_independent_parse():
    d = read_lammps_data(F1, expected_density=1.0)
    rows = _atom_rows(F1)
    rows = rows[np.argsort(rows[:, 0])]
    assert d.atom_style == "charge" and d.n_particles == 1500
    np.testing.assert_array_equal(d.ids, np.arange(1, 1501))
    np.testing.assert_array_equal(d.positions, rows[:, 3:6])
    np.testing.assert_array_equal(d.diameters, rows[:, 2])
    np.testing.assert_array_equal(d.image, np.zeros((1500, 3)))
    np.testing.assert_allclose(d.box, L_FIX, rtol=1e-10)
    np.testing.assert_allclose(d.lo, -L_FIX / 2, rtol=1e-10)
    assert d.type_masses == {1: 1.0}
    np.testing.assert_array_equal(d.masses, 1.0)
    assert abs(d.density - 1.0) < 1e-6
    assert 0.73 <= d.diameters.min() and d.diameters.max() <= 1.62


def test_lines_in_any_order_are_sorted_by_id(tmp_path):
    lines = F1.read_text().splitlines()
    head, atoms = lines[:18], lines[18:]
    rng = np.random.default_rng(0)
    p = tmp_path / "shuffled.data"
    p.write_text("\n".join(head + [atoms[i] for i in rng.permutation(len(atoms))]) + "\n")
    _assert_same(read_lammps_data(p), read_lammps_data(F1))


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("style", ["charge", "sphere"])
def test_fixture_round_trip_is_exact(tmp_path, style):
    a = read_lammps_data(F2)
    p = a.write(tmp_path / f"rt.{style}", atom_style=style)
    b = read_lammps_data(p)
    assert b.atom_style == style
    if style == "sphere":
        np.testing.assert_array_equal(b.densities, sphere_density(a.diameters))
        np.testing.assert_allclose(b.masses, 1.0, rtol=1e-14)
        b.densities = None
    _assert_same(a, b)
    # and once more from the rewritten file: byte-identical output
    q = b.write(tmp_path / f"rt2.{style}", atom_style=style)
    if style == "charge":
        assert p.read_text() == q.read_text()


@pytest.mark.parametrize("style", ["charge", "sphere"])
def test_random_round_trip_full_precision(tmp_path, style):
    rng = np.random.default_rng(42)
    n = 57
    box = np.array([3.0 * math.pi, math.e * 3, math.sqrt(2) * 7])
    lo = np.array([-1.0 / 3.0, 0.1, -math.pi])
    x = lo + rng.random((n, 3)) * box
    img = rng.integers(-3, 4, (n, 3))
    ids = rng.permutation(np.arange(10, 10 + 3 * n, 3))
    d = rng.uniform(0.73, 1.62, n)
    v = rng.normal(size=(n, 3))
    p = write_lammps_data(tmp_path / "r.data", x, d, box, lo=lo, atom_style=style, ids=ids, image=img, velocities=v)
    r = read_lammps_data(p)
    o = np.argsort(ids)
    np.testing.assert_array_equal(r.ids, ids[o])
    np.testing.assert_array_equal(r.positions, x[o])
    np.testing.assert_array_equal(r.diameters, d[o])
    np.testing.assert_array_equal(r.image, img[o])
    np.testing.assert_array_equal(r.velocities, v[o])
    np.testing.assert_array_equal(r.lo, lo)
    np.testing.assert_array_equal(r.hi, lo + box)
    np.testing.assert_array_equal(r.unwrapped(), x[o] + img[o] * r.box)
    r2 = read_lammps_data(r.write(tmp_path / "r2.data"))
    _assert_same(r, r2)


def test_wrap_centered():
    L = np.array([2.0, 3.0, 5.0])
    x = np.array([[1.0, 1.5, 2.5], [-1.0, -1.5, -2.5], [7.3, -11.2, 0.0], [1.0 - 1e-17, 1.5 + 1e-15, -12.5]])
    w = wrap_centered(x, L)
    assert np.all(w >= -L / 2) and np.all(w < L / 2)
    k = (x - w) / L
    np.testing.assert_allclose(k, np.round(k), atol=1e-12)
    np.testing.assert_allclose(w[0], -L / 2)
    np.testing.assert_allclose(w[2], [-0.7, 0.8, 0.0], atol=1e-12)


def test_energy_from_filename():
    assert energy_from_filename("2.044810139E-01.conf.txt") == 0.2044810139
    assert energy_from_filename("/a/b/-1.5e+00.data") == -1.5
    assert energy_from_filename("0.25_is.lmp") == 0.25
    assert energy_from_filename("conf_0.25.txt") is None
    assert energy_from_filename("000123.data") is None


# ----------------------------------------------------------------------------- bad input
def _lines():
    return F1.read_text().splitlines()


def _write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_truncated_file(tmp_path):
    p = _write(tmp_path, "trunc.data", _lines()[:-10])
    with pytest.raises(LammpsDataError, match=r"trunc\.data, line 17: truncated.*1500.*1490"):
        read_lammps_data(p)


def test_wrong_atom_count(tmp_path):
    lines = _lines()
    lines[2] = "  1499 atoms"
    p = _write(tmp_path, "count.data", lines)
    with pytest.raises(LammpsDataError, match=r"count\.data, line 1518: wrong atom count.*1499"):
        read_lammps_data(p)


@pytest.mark.parametrize("bad", ["nan", "inf", "-Inf"])
def test_non_finite_coordinate(tmp_path, bad):
    lines = _lines()
    t = lines[118].split()  # atom id 100 (line 119)
    t[4] = bad
    lines[118] = " ".join(t)
    p = _write(tmp_path, "nan.data", lines)
    with pytest.raises(LammpsDataError, match=r"nan\.data, line 119: non-finite"):
        read_lammps_data(p)


def test_duplicate_ids(tmp_path):
    lines = _lines()
    t = lines[218].split()  # id 200 at line 219 becomes a second id 7 (line 25)
    t[0] = "7"
    lines[218] = " ".join(t)
    p = _write(tmp_path, "dup.data", lines)
    with pytest.raises(LammpsDataError, match=r"dup\.data, line 219: duplicate atom id 7 \(also on line 25\)"):
        read_lammps_data(p)


def test_unknown_atom_style(tmp_path):
    lines = _lines()
    lines[16] = "Atoms # full"
    p = _write(tmp_path, "full.data", lines)
    with pytest.raises(LammpsDataError, match=r"full\.data, line 17: unknown atom style 'full'"):
        read_lammps_data(p)
    # no style comment and a column count that fits no style (5 columns are atomic)
    lines[16] = "Atoms"
    lines[18:] = [" ".join(s.split()[:4]) for s in lines[18:]]
    p = _write(tmp_path, "four.data", lines)
    with pytest.raises(LammpsDataError, match=r"four\.data, line 19: unknown atom style: 4 columns"):
        read_lammps_data(p)


def test_style_inferred_from_columns(tmp_path):
    lines = _lines()
    lines[16] = "Atoms"
    _assert_same(read_lammps_data(_write(tmp_path, "nostyle.data", lines)), read_lammps_data(F1))


def test_density_mismatch(tmp_path):
    lines = _lines()
    lines[5] = "  -5.8 5.8 xlo xhi"
    p = _write(tmp_path, "box.data", lines)
    read_lammps_data(p)  # fine without a density check
    implied = 1500 / (11.6 * L_FIX**2)
    with pytest.raises(LammpsDataError, match=rf"box\.data, line 6: .*density {implied:.10g}, not the expected 1"):
        read_lammps_data(p, expected_density=1.0)
    read_lammps_data(F1, expected_density=1.0)  # the authors' box is at density 1 to 1e-6


def test_non_positive_diameter_and_garbage(tmp_path):
    lines = _lines()
    t = lines[30].split()
    t[2] = "0"
    lines[30] = " ".join(t)
    with pytest.raises(LammpsDataError, match=r"zero\.data, line 31: .*positive diameter"):
        read_lammps_data(_write(tmp_path, "zero.data", lines))
    p = tmp_path / "notes.json"
    p.write_text('{"a": 1}\n')
    with pytest.raises(LammpsDataError, match=r"notes\.json"):
        read_lammps_data(p)
