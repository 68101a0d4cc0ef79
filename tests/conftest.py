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


def neighbouring_minima_n100(tol):
    """A quenched N = 100 glass (seed 3) and the first minimum a Langevin run at T = 0.04 with quenches every
    0.1 reaches that differs from it by more than tol (largest single-particle displacement, drift removed):
    (x, second, diameters, box), second as returned by FIRE (unwrapped)."""
    from tlspipe import model
    from tlspipe.engine import MD, fire_minimise, maxwell_velocities
    from tlspipe.path.glass import unwrap_to

    n = 100
    box = model.box_length(n)
    diam = model.diameters(n)
    rng = np.random.default_rng(3)
    x, _ = fire_minimise(rng.uniform(-box / 2, box / 2, (n, 3)), diam, box, ftol=1e-10)
    md = MD(x, maxwell_velocities(n, 0.04, rng), diam, box)
    for q in range(60):
        md.run(10, dt=0.01, thermostat="langevin", T=0.04, gamma=1.0, seed=q)
        xm, _ = fire_minimise(md.x, diam, box, ftol=1e-10)
        d = unwrap_to(xm, x, box) - x
        if np.abs(d - d.mean(axis=0)).max() > tol:
            return x, xm, diam, box
    pytest.fail("the quenches did not find a second minimum")
