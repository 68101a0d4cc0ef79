"""Kills and damaged files: an NEB chunk and an exploration killed with SIGKILL mid-way and run again give
the results of an uninterrupted run, and a damaged exploration checkpoint or NEB side file is recomputed or
refused with a message naming it, never reused."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import tlspipe
from tlspipe import columns as C
from tlspipe.path import batch
from tlspipe.sample import explore
from tlspipe.store.isstore import ISStore, write_store

SRC = Path(tlspipe.__file__).resolve().parents[1]  # the subprocesses import the tlspipe under test
NEB_OPTIONS = {"images": 40, "units": "paper", "tls_threshold": 0.0015}
NEB_PAIRS = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 0), (2, 1), (3, 2), (4, 3)]
EXPLORE = ["--seed", "5", "--tf", "0.1", "--n-traj", "3", "--traj-time", "6", "--tau-quench", "0.1"]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run(argv, log: Path):
    """Run ``python argv`` to its end; its output goes to ``log``, which is returned as text."""
    with open(log, "w") as fh:
        r = subprocess.run([sys.executable, *argv], env=_env(), stdout=fh, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert r.returncode == 0, text[-3000:]
    return text


def _run_and_kill(argv, log: Path, ready, timeout=120):
    """Start ``python argv`` and SIGKILL it as soon as ``ready()`` is true (polled every 10 ms)."""
    with open(log, "w") as fh:
        p = subprocess.Popen([sys.executable, *argv], env=_env(), stdout=fh, stderr=subprocess.STDOUT)
        t_end = time.monotonic() + timeout
        try:
            while not ready():
                assert p.poll() is None, f"finished (exit {p.returncode}) before it could be killed:\n{log.read_text()}"
                assert time.monotonic() < t_end, f"not ready after {timeout} s:\n{log.read_text()}"
                time.sleep(0.01)
            os.kill(p.pid, signal.SIGKILL)
        finally:
            p.kill()  # no-op once it is dead
            p.wait()
    assert p.returncode == -signal.SIGKILL


# ----------------------------------------------------------------------------------------------- NEB
def _minima_n100(count):
    """``count`` distinct minima of a quenched N = 100 glass (seed 3), in the order Langevin runs at T = 0.08
    with quenches every 0.1 reach them (each from the one before), so that consecutive ones are neighbours:
    (minima, diameters, box)."""
    from tlspipe import model
    from tlspipe.engine import MD, fire_minimise, maxwell_velocities
    from tlspipe.path.glass import unwrap_to

    n = 100
    box = model.box_length(n)
    diam = model.diameters(n)
    rng = np.random.default_rng(3)
    x, _ = fire_minimise(rng.uniform(-box / 2, box / 2, (n, 3)), diam, box, ftol=1e-10)
    found = [x - box * np.floor(x / box + 0.5)]
    md = MD(x, maxwell_velocities(n, 0.08, rng), diam, box)
    for q in range(200):
        md.run(10, dt=0.01, thermostat="langevin", T=0.08, gamma=1.0, seed=q)
        xm, _ = fire_minimise(md.x, diam, box, ftol=1e-10)
        xm = xm - box * np.floor(xm / box + 0.5)
        d = [unwrap_to(xm, y, box) - y for y in found]
        if min(np.abs(v - v.mean(axis=0)).max() for v in d) > 1e-3:
            found.append(xm)
            if len(found) == count:
                return np.stack(found), diam, box
    pytest.fail(f"the quenches found {len(found)} distinct minima, not {count}")


@pytest.fixture(scope="module")
def neb_case(tmp_path_factory):
    """An IS store of 5 neighbouring minima, a chunk of 8 pairs between them, and the chunk's results computed
    without interruption (run_chunk, as the workflow's neb rule)."""
    from tlspipe.engine import ForceField
    from tlspipe.path.chunk import run_chunk

    d = tmp_path_factory.mktemp("neb")
    pos, diam, box = _minima_n100(5)
    ff = ForceField(diam, box)
    store = write_store(d / "g5" / "is.h5", ISStore(diam, box, pos, [ff.energy(p) / len(diam) for p in pos]),
                        glass="g5")
    chunk = d / "g5.000.parquet"
    a, b = zip(*NEB_PAIRS)
    pd.DataFrame({C.GLASS: "g5", C.IS_A: a, C.IS_B: b}).to_parquet(chunk)
    ref = d / "ref" / "g5.000.parquet"
    run_chunk(NEB_OPTIONS, store, chunk, ref, d / "ref" / "partial.parquet")
    return store, chunk, ref


NEB_SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from tlspipe.path.chunk import run_chunk
run_chunk(json.loads(sys.argv[1]), *sys.argv[2:])
"""


def test_neb_chunk_killed_mid_way_resumes_to_the_uninterrupted_results(neb_case, tmp_path):
    """SIGKILL of an NEB job (run_chunk in its own process) once its side file holds a finished pair, then the
    same job again: the output has the rows, statuses and numbers of an uninterrupted run and its profiles,
    and the pairs that were in the side file at the kill are not computed again (their rows, timings
    included, are carried over unchanged); only the others are computed."""
    import json

    store, chunk, ref = neb_case
    out, partial = tmp_path / "exact" / "g5.000.parquet", tmp_path / "partial" / "g5.000.parquet"
    argv = ["-c", NEB_SCRIPT, json.dumps(NEB_OPTIONS), str(store), str(chunk), str(out), str(partial)]
    _run_and_kill(argv, tmp_path / "killed.log", lambda: partial.exists() and len(pd.read_parquet(partial)) >= 1)
    assert not out.exists()
    at_kill = pd.read_parquet(partial)
    k = len(at_kill)
    assert 1 <= k < len(NEB_PAIRS)  # killed mid-way
    log = _run(argv, tmp_path / "resumed.log")
    assert f"{len(NEB_PAIRS) - k} pairs to compute ({k} already in {partial})" in log
    computed = [ln for ln in log.splitlines() if ln.startswith("tlspipe.path.batch: g5 ") and " it, " in ln]
    assert len(computed) == len(NEB_PAIRS) - k  # one line per pair computed
    assert not partial.exists()

    got, want = pd.read_parquet(out), pd.read_parquet(ref)
    assert list(zip(got[C.IS_A], got[C.IS_B])) == NEB_PAIRS
    assert got[C.GLASS].tolist() == want[C.GLASS].tolist()
    assert got[C.STATUS].tolist() == want[C.STATUS].tolist()
    assert C.STATUS_DW in set(want[C.STATUS])  # pairs with something to compare
    for c in (C.E_QS, C.E_QS_K, C.BARRIER, C.DELTA_E, C.PATH_LENGTH, C.DELTA0, C.N_ITER):
        np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, atol=0,
                                   equal_nan=True, err_msg=c)
    # the pairs finished before the kill are the side file's rows, not new calculations
    pd.testing.assert_frame_equal(got.iloc[:k].reset_index(drop=True), at_kill[got.columns].reset_index(drop=True))
    # and the profiles V(xi) file has every pair, as the uninterrupted run's
    with h5py.File(out.with_suffix(".profiles.h5")) as h, h5py.File(ref.with_suffix(".profiles.h5")) as r:
        assert sorted(h["g5"]) == sorted(r["g5"]) == sorted(f"{a}_{b}" for a, b in NEB_PAIRS)
        for name in r["g5"]:
            for ds in r["g5"][name]:
                np.testing.assert_allclose(h["g5"][name][ds][()], r["g5"][name][ds][()], rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------------- explore
@pytest.fixture(scope="module")
def explore_case(tmp_path_factory, small_glass):
    """The N = 200 glass as a LAMMPS data file and its exploration (3 trajectories) run without interruption
    by ``tlspipe explore``: (data file, store, checkpoint directory)."""
    from tlspipe.store.lammps import write_lammps_data

    d = tmp_path_factory.mktemp("explore")
    x, diam, box = small_glass
    data = d / "glass.data"
    write_lammps_data(data, x, diam, box)
    _run(["-m", "tlspipe.cli", "explore", str(data), "--out", str(d / "is.h5"), "--checkpoints", str(d / "ck"),
          *EXPLORE], d / "explore.log")
    return data, d / "is.h5", d / "ck"


STORE_DATASETS = ["diameters", "box", "positions", "energy", "first_seen", "first_traj", "visits",
                  "transitions/src", "transitions/dst", "transitions/count"]


def _assert_same_store(path, ref):
    with h5py.File(path) as h, h5py.File(ref) as r:
        assert r["energy"].shape[0] >= 3  # an exploration with something in it
        for name in STORE_DATASETS:
            assert np.array_equal(h[name][()], r[name][()]), name
        assert h.attrs["content_sha256"] == r.attrs["content_sha256"]


def test_exploration_killed_mid_way_resumes_to_the_uninterrupted_store(explore_case, tmp_path):
    """SIGKILL of ``tlspipe explore`` once the first trajectory's checkpoint is written, then the same command
    again.  What the design guarantees: finished trajectories are kept (their checkpoint files are not
    rewritten), a trajectory cut by the kill is rerun from its start, and every trajectory is a deterministic
    function of the glass, the seed, its index and the parameters; so the store has the same IS (positions
    and energies bit for bit, in the same order), visits and transition counts as the uninterrupted run's
    (on the same machine: another CPU may round the MD differently).  Only the recorded CPU time differs."""
    data, ref, _ = explore_case
    ck = tmp_path / "ck"
    argv = ["-m", "tlspipe.cli", "explore", str(data), "--out", str(tmp_path / "is.h5"), "--checkpoints", str(ck),
            *EXPLORE]
    _run_and_kill(argv, tmp_path / "killed.log", lambda: (ck / "traj_0000.npz").exists())
    assert not (tmp_path / "is.h5").exists() and not (ck / "traj_0002.npz").exists()  # killed mid-way
    first = (ck / "traj_0000.npz").read_bytes()
    _run(argv, tmp_path / "resumed.log")
    assert (ck / "traj_0000.npz").read_bytes() == first  # not run again (a rerun records another CPU time)
    _assert_same_store(tmp_path / "is.h5", ref)


def test_damaged_exploration_checkpoints_are_rerun(explore_case, tmp_path, caplog):
    """A truncated checkpoint, one with 64 bytes overwritten (zip CRC) and a valid zip that lacks an array (what
    a damaged zip directory can leave, made here by saving one without it): each is named in a warning and
    its trajectory rerun, and the store is the uninterrupted run's."""
    import zipfile

    from tlspipe.cli import main

    data, ref, ref_ck = explore_case
    ck = tmp_path / "ck"
    shutil.copytree(ref_ck, ck)
    f0, f1, f2 = (ck / f"traj_{t:04d}.npz" for t in range(3))
    f0.write_bytes(f0.read_bytes()[: f0.stat().st_size // 2])
    b = bytearray(f1.read_bytes())
    mid = len(b) // 2
    b[mid: mid + 64] = bytes(range(64))
    f1.write_bytes(bytes(b))
    with np.load(f2) as z:
        kept = {k: z[k] for k in z.files if k != "sequence"}
    np.savez(f2, **kept)
    assert zipfile.is_zipfile(f2)
    with caplog.at_level(logging.WARNING, logger="tlspipe.explore"):
        assert main(["explore", str(data), "--out", str(tmp_path / "is.h5"), "--checkpoints", str(ck), *EXPLORE]) == 0
    for f, why in ((f0, "is unreadable"), (f1, "is unreadable"), (f2, "lacks ['sequence']")):
        assert f"checkpoint {f} {why}" in caplog.text
    assert caplog.text.count("the trajectory will be rerun") == 3
    _assert_same_store(tmp_path / "is.h5", ref)


def test_no_byte_change_of_a_checkpoint_is_trusted(tmp_path, caplog):
    """Every single-byte change of a checkpoint either reads back the same record or makes the trajectory
    rerun: never a record with other values or missing arrays."""
    rng = np.random.default_rng(0)
    rec = {"energies": rng.normal(size=4), "positions": rng.normal(size=(4, 5, 3)), "first_seen": rng.normal(size=4),
           "visits": np.arange(1, 5), "sequence": np.array([0, 1, -1, 2, 3, 1]), "n_unconverged": np.array(1),
           "n_early_exit": np.array(2), "n_fire_steps": np.array(30), "n_refine_steps": np.array(3),
           "seconds": np.array(0.5), "key": np.array("0123456789abcdef")}
    good = tmp_path / "good.npz"
    np.savez(good, **rec)
    raw = good.read_bytes()
    path = tmp_path / "traj_0000.npz"
    outcomes = {"same": 0, "rerun": 0}
    for i in range(len(raw)):
        b = bytearray(raw)
        b[i] ^= 0x5A
        path.write_bytes(bytes(b))
        with caplog.at_level(logging.CRITICAL, logger="tlspipe.explore"):
            out = explore._load_checkpoint(path, "0123456789abcdef")
        if out is None:
            assert not path.exists()
            outcomes["rerun"] += 1
            continue
        assert set(out) == set(rec), f"byte {i}: {sorted(out)}"
        for k, v in rec.items():
            assert np.array_equal(out[k], v), f"byte {i}: {k} changed and was trusted"
        outcomes["same"] += 1
    assert outcomes["rerun"] > len(raw) // 2 and outcomes["same"] > 0


# ----------------------------------------------------------------------------------------------- NEB side file
def _fake_compute(x_a, x_b, diam, box, cfg):
    """A stand-in for the NEB: a result row that depends on the pair's positions, with every number set."""
    s = float(np.abs(x_a - x_b).sum())
    row = {C.STATUS: C.STATUS_DW, C.E_QS: 1e-3 * s, C.E_QS_K: 0.479 * s, C.BARRIER: 0.01 * s + 0.1,
           C.DELTA_E: 1e-4 * s, C.PATH_LENGTH: 0.3 * s, C.DELTA0: 2e-3 * s, C.N_ITER: 100 + int(s), C.SECONDS: 0.25}
    return row, None


@pytest.fixture
def fake_side_file(neb_case, tmp_path, monkeypatch):
    """A side file of 3 finished pairs of the NEB case's chunk (stand-in rows) and what computes the rest."""
    calls = []

    def counting(*a):
        calls.append(1)
        return _fake_compute(*a)

    monkeypatch.setattr(batch, "compute_pair", counting)
    store, chunk, _ = neb_case
    partial = tmp_path / "partial" / "g5.000.parquet"
    pairs = pd.read_parquet(chunk)
    batch.run_pairs(store, pairs[[C.IS_A, C.IS_B]].iloc[:3], partial, NEB_OPTIONS)
    calls.clear()
    return store, chunk, partial, calls


def test_a_neb_side_file_with_changed_bytes_is_set_aside_and_recomputed(fake_side_file, tmp_path, caplog):
    """A side file whose bytes changed where Parquet cannot see it (one byte of an E_qs in a data page: the
    file still reads, with another value) fails the sha256 of its rows: it is moved aside to .damaged-1 with a
    warning naming it, and every pair is computed anew; truncated, it stops the job with an error naming the
    file and what to do, and is left as it was."""
    import struct

    from tlspipe.path.chunk import run_chunk

    store, chunk, partial, calls = fake_side_file
    before = pd.read_parquet(partial)
    row = int(np.argsort(before[C.E_QS].to_numpy())[1])  # the middle value: in no min/max statistics
    raw = bytearray(partial.read_bytes())
    at = raw.find(struct.pack("<d", before[C.E_QS].iloc[row]))
    assert at > 0
    raw[at] ^= 0x01  # the lowest bit of the mantissa
    partial.write_bytes(bytes(raw))
    changed = pd.read_parquet(partial)  # Parquet reads it without complaint...
    assert changed[C.E_QS].iloc[row] != before[C.E_QS].iloc[row]
    out = tmp_path / "exact" / "g5.000.parquet"
    with caplog.at_level(logging.WARNING, logger="tlspipe.path.batch"):
        res = run_chunk(NEB_OPTIONS, store, chunk, out, partial)
    assert "do not match the sha256" in caplog.text and str(partial) in caplog.text
    assert (partial.parent / "g5.000.damaged-1.parquet").exists()  # kept for a look, never reused
    assert len(calls) == len(NEB_PAIRS)  # ...but its rows are not reused
    np.testing.assert_array_equal(res[C.E_QS].iloc[:3].to_numpy(), before[C.E_QS].to_numpy())

    # truncated: refused with the file's name and the fix, and kept untouched
    calls.clear()
    batch.run_pairs(store, pd.read_parquet(chunk)[[C.IS_A, C.IS_B]].iloc[:3], partial, NEB_OPTIONS)
    cut = partial.read_bytes()[:-40]
    partial.write_bytes(cut)
    with pytest.raises(ValueError, match="cannot be read as Parquet") as e:
        run_chunk(NEB_OPTIONS, store, chunk, out.with_name("other.parquet"), partial)
    assert str(partial) in str(e.value) and "move it away (its pairs are then computed anew)" in str(e.value)
    assert partial.read_bytes() == cut


def test_no_byte_change_of_a_neb_results_table_is_reused(fake_side_file, caplog):
    """A single-byte change of a results table is either harmless (the same rows read back), refused with a
    ValueError naming the file, or detected (moved aside, nothing reused): never other rows reused.  Every
    byte of the column chunks is changed in turn, and every 7th of the footer (schema, statistics, metadata)."""
    import struct

    store, _, partial, _ = fake_side_file
    raw = partial.read_bytes()
    footer = len(raw) - 8 - struct.unpack("<i", raw[-8:-4])[0]
    want = pd.read_parquet(partial)
    prov = batch.provenance(store, "g5", batch.resolve_config(NEB_OPTIONS))
    outcomes = {"same": 0, "refused": 0, "set aside": 0}
    for i in [*range(footer), *range(footer, len(raw), 7)]:
        b = bytearray(raw)
        b[i] ^= 0x5A
        partial.write_bytes(bytes(b))
        try:
            with caplog.at_level(logging.CRITICAL, logger="tlspipe.path.batch"):
                got = batch._reusable_results(partial, prov)
        except ValueError as e:
            assert str(partial) in str(e) and "move it away" in str(e), f"byte {i}: {e}"
            outcomes["refused"] += 1
            continue
        if len(got) == 0:
            assert not partial.exists(), f"byte {i}: rows dropped, file kept"
            outcomes["set aside"] += 1
            for f in partial.parent.glob("*-1.parquet"):
                f.unlink()
            continue
        pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False, obj=f"byte {i}")
        outcomes["same"] += 1
    assert all(outcomes.values()), outcomes


def test_a_profile_write_that_dies_half_way_leaves_the_earlier_profiles(tmp_path):
    """The profiles V(xi) file is replaced whole, never changed in place: a write that stops half way (here an
    exception after the pair's group was created, as a SIGKILL would) leaves the file with the pairs written
    before, readable, and no temporary file behind."""
    from types import SimpleNamespace

    h5 = tmp_path / "chunk.profiles.h5"
    row = {k: 0.5 for k in (C.STATUS, C.E_QS, C.BARRIER, C.DELTA_E, C.PATH_LENGTH, C.DELTA0)}
    band = np.zeros((3, 4, 3))
    band[1] += 0.1
    band[2] += 0.2
    good = SimpleNamespace(neb=SimpleNamespace(band=band, energy=np.array([0.0, 1.0, 0.5])),
                           analysis=SimpleNamespace(xi=np.linspace(0, 1, 5), v=np.ones(5), e0=0.1, e1=0.2))
    batch._write_profile(h5, "g", 1, 2, good, row)

    class Dies:
        neb = None

        @property
        def analysis(self):
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        batch._write_profile(h5, "g", 3, 4, Dies(), row)
    with h5py.File(h5) as h:
        assert list(h["g"]) == ["1_2"]
        np.testing.assert_array_equal(h["g/1_2/energy_images"][()], [0.0, 1.0, 0.5])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk.profiles.h5"]
    batch._write_profile(h5, "g", 3, 4, good, row)  # the rerun adds the pair
    with h5py.File(h5) as h:
        assert sorted(h["g"]) == ["1_2", "3_4"]
