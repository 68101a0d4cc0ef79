"""Shared helpers: atomic writes and the periodic box."""

import numpy as np
import pytest

from tlspipe.util.io import atomic_path, atomic_write_text
from tlspipe.util.periodic import box3, minimum_image, wrap


def test_atomic_path_renames_when_complete(tmp_path):
    out = tmp_path / "a.txt"
    with atomic_path(out) as tmp:
        assert tmp == tmp_path / "a.txt.tmp"
        tmp.write_text("x")
        assert not out.exists()
    assert out.read_text() == "x" and not tmp.exists()
    atomic_write_text(out, "y")
    assert out.read_text() == "y"


def test_atomic_path_removes_the_temporary_file_on_error(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(out, ".tmp.npz") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_box_minimum_image_and_wrap():
    b = box3(2.0)
    assert b.tolist() == [2.0, 2.0, 2.0] and b.flags.writeable
    assert box3([1, 2, 3]).dtype == np.float64
    d = np.array([[1.5, -1.2, 0.3]])
    assert np.allclose(minimum_image(d, b), [[-0.5, 0.8, 0.3]])
    assert np.allclose(wrap(np.array([[2.9, -1.1, 0.2]]), b), [[0.9, 0.9, 0.2]])
