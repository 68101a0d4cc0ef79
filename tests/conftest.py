import os
from pathlib import Path

import numpy as np
import pytest

# one thread per test process: the suite is timed on 2 cores
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DIR = REPO.parent / "shared" / "fixtures" / "ciarella2023_T0.062"
if not FIXTURE_DIR.is_dir():  # a checkout elsewhere: allow an override
    FIXTURE_DIR = Path(os.environ.get("TLSPIPE_FIXTURES", FIXTURE_DIR))


def read_fixture_conf(path):
    """Positions (sorted by id), diameters and box edge of one authors' LAMMPS data file (atom_style charge)."""
    a = np.loadtxt(path, skiprows=18)
    a = a[np.argsort(a[:, 0])]
    return a[:, 3:6].copy(), a[:, 2].copy(), 11.447142426


@pytest.fixture(scope="session")
def fixture_dir():
    if not FIXTURE_DIR.is_dir():
        pytest.fail(f"fixture directory {FIXTURE_DIR} not found; set TLSPIPE_FIXTURES")
    return FIXTURE_DIR


@pytest.fixture(scope="session")
def small_glass():
    """A minimised N=200 glass at density 1 (positions, diameters, box)."""
    from tlspipe import engine, model

    n = 200
    rng = np.random.default_rng(42)
    box = model.box_length(n)
    diam = rng.permutation(model.diameters(n))
    x = engine.lattice_start(n, box, rng, 0.2)
    x, res = engine.fire_minimise(x, diam, box, ftol=1e-10)
    assert res.converged
    return x, diam, box
