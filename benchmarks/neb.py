"""Wall time of NEB + Schroedinger per pair at N = 1500, 40 images, one core, on short TLS-like pairs.

Pairs: consecutive distinct inherent structures of Langevin MD at T = 0.04 started from the authors'
fixture IS (N = 1500, Tf = 0.062), quenched (FIRE to 1e-10) every 0.2 time units; kept when the end-to-end
distance is 0.05 < d0 < 0.5 sigma (ΔE of a few 1e-3 epsilon: TLS-like).  Cached (--cache).

Prints ``name: value unit`` lines; the last one is ``neb_seconds_per_pair``.  Run on an idle machine:
``python benchmarks/neb.py [--pairs 8] [--subset 3]``.

Equality: every pair's status, E_qs, barrier and ΔE are compared with ``benchmarks/neb_reference.json``
(the same pairs computed by the code before the shared band list, commit e8dbd51), printed as
``neb_max_rel_change_*`` beside the time.  ``--ab BASE_SRC`` times instead the package in BASE_SRC (a
``src`` folder, e.g. of ``git worktree add /tmp/neb_base e8dbd51``) against this one, pair by pair in
alternation (ABBA), in two worker processes, and compares their results: on a machine whose speed swings
from minute to minute only such an alternation shows a gain.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"  # one core

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REFERENCE = Path(__file__).with_name("neb_reference.json")
FIXTURE = os.environ.get("TLSPIPE_FIXTURES", str(Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ciarella2023_T0.062"))


def make_pairs(n_pairs: int, cache: Path, max_quenches: int = 200):
    """Short pairs of consecutive distinct IS: Langevin MD at T = 0.04 from the fixture IS, a FIRE quench
    every 0.2 time units (as in the paper's exploration at Tf = 0.062).  Returns a list of (xa, xb)."""
    from tlspipe.engine import MD, fire_minimise, maxwell_velocities
    from tlspipe.path.glass import unwrap_to
    from tlspipe.store.lammps import read_lammps_data

    if cache.exists():
        z = np.load(cache)
        if len(z["xa"]) >= n_pairs:
            return list(zip(z["xa"][:n_pairs], z["xb"][:n_pairs])), z["diam"], z["box"]
    dat = read_lammps_data(sorted(glob.glob(f"{FIXTURE}/*.conf.txt"))[0])
    diam, box = dat.diameters, dat.box
    rng = np.random.default_rng(1)
    md = MD(dat.wrapped(), maxwell_velocities(diam.size, 0.04, rng), diam, box)

    def disp(x, y):
        d = unwrap_to(y, x, box) - x
        return d - d.mean(axis=0)

    reps, prev, pairs = [], None, []
    for q in range(max_quenches):
        md.run(20, dt=0.01, thermostat="langevin", T=0.04, gamma=1.0, seed=q)
        xm, res = fire_minimise(md.x, diam, box, ftol=1e-10)
        k = next((j for j, (e, x) in enumerate(reps) if abs(e - res.energy) < 1e-7
                  and np.abs(disp(x, xm)).max() < 1e-5), None)
        if k is None:
            reps.append((res.energy, xm))
            k = len(reps) - 1
        if prev is not None and k != prev:
            a, b = min(prev, k), max(prev, k)
            d0 = float(np.sqrt((disp(reps[a][1], reps[b][1]) ** 2).sum()))
            if 0.05 < d0 < 0.5 and (a, b) not in [p[0] for p in pairs]:
                pairs.append(((a, b), reps[a][1], reps[b][1]))
                if len(pairs) == n_pairs:
                    break
        prev = k
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, xa=np.array([p[1] for p in pairs]), xb=np.array([p[2] for p in pairs]), diam=diam, box=box)
    return [(p[1], p[2]) for p in pairs], diam, box


def run(pairs, diam, box, hbar, **kw):
    from tlspipe.path.glass import neb_pair

    out = []
    for xa, xb in pairs:
        t = time.perf_counter()
        r = neb_pair(xa, xb, diam, box, hbar, **kw)
        out.append((time.perf_counter() - t, r))
    return out


def pair_key(xa, xb, diam, box):
    """(d0, E_b - E_a) of a pair: identifies it in the reference file."""
    from tlspipe.engine import ForceField
    from tlspipe.path.glass import unwrap_to

    dx = unwrap_to(xb, xa, box) - xa
    ff = ForceField(diam, box)
    return float(np.linalg.norm(dx - dx.mean(axis=0))), float(ff.energy(xb) - ff.energy(xa))


def summary(r, seconds):
    """What the equality check compares, and the cost, of one PairResult."""
    return dict(status=r.status, e_qs=r.e_qs, barrier=r.barrier, delta_e=r.delta_e, d=r.d, n_iter=r.n_iter,
                seconds=seconds)


def rel_change(a, b):
    """|b / a - 1|; 0 when both are NaN (no E_qs of a not_dw pair), inf when only one is."""
    if np.isnan(a) and np.isnan(b):
        return 0.0
    if np.isnan(a) or np.isnan(b):
        return float("inf")
    return abs(b / a - 1.0) if a != 0 else abs(b - a)


def print_equality(prefix, old, new):
    """``<prefix>_max_rel_change_<q>`` over the pairs, and how many pairs keep their status."""
    for q in ("e_qs", "barrier", "delta_e"):
        worst = max(rel_change(o[q], n[q]) for o, n in zip(old, new))
        print(f"{prefix}_max_rel_change_{q}: {worst:.2e} 1")
    same = sum(o["status"] == n["status"] for o, n in zip(old, new))
    print(f"{prefix}_same_status: {same}/{len(old)} pairs")


def worker(cache: Path):
    """Answer pair indices read from stdin with one JSON line each (for --ab)."""
    from tlspipe import model
    from tlspipe.path.glass import neb_pair

    z = np.load(cache)
    hbar = model.unit_preset("paper").hbar
    neb_pair(z["xa"][0], z["xb"][0], z["diam"], z["box"], hbar, max_iter=5)  # compile
    print("ready", flush=True)
    for line in sys.stdin:
        k = int(line)
        t = time.perf_counter()
        r = neb_pair(z["xa"][k], z["xb"][k], z["diam"], z["box"], hbar)
        print(json.dumps(summary(r, time.perf_counter() - t)), flush=True)


def ab(base_src: str, cache: Path, n_pairs: int, rounds: int):
    """The package of this tree (B) against the one in base_src (A), pair by pair alternated (ABBA)."""
    here = str(Path(__file__).resolve().parents[1] / "src")
    procs = {}
    for name, src in (("A", base_src), ("B", here)):
        env = dict(os.environ, PYTHONPATH=src)
        p = subprocess.Popen([sys.executable, __file__, "--worker", "--cache", str(cache)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"worker {name} ({src}) did not start")
        procs[name] = p
    res = {"A": {}, "B": {}}
    for rnd in range(rounds):
        for k in range(n_pairs):
            for name in ("AB" if (k + rnd) % 2 == 0 else "BA"):
                p = procs[name]
                p.stdin.write(f"{k}\n")
                p.stdin.flush()
                res[name].setdefault(k, []).append(json.loads(p.stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    ks = sorted(res["A"])
    sec = {n: np.array([[x["seconds"] for x in res[n][k]] for k in ks]) for n in "AB"}
    its = {n: np.array([res[n][k][0]["n_iter"] for k in ks]) for n in "AB"}
    for n, label in (("A", base_src), ("B", here)):
        print(f"ab_{n}_source: {label} -")
        print(f"ab_{n}_iterations_median: {np.median(its[n]):.0f} iterations")
        print(f"ab_{n}_ms_per_iteration: {1e3 * np.median(sec[n] / its[n][:, None]):.2f} ms")
        print(f"ab_{n}_seconds_per_pair_median: {np.median(sec[n]):.3f} s")
    ratio = sec["B"] / sec["A"]  # same pair, same round: seconds apart
    q1, q3 = np.percentile(ratio, [25, 75])
    print(f"ab_ratio_B_over_A: {np.median(ratio):.3f} (IQR {q1:.3f}-{q3:.3f}) 1")
    print_equality("ab", [res["A"][k][0] for k in ks], [res["B"][k][0] for k in ks])
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} processes")
    print(f"neb_seconds_per_pair: {np.median(sec['B']):.2f}")


def numpy_neb_forces(X, E, F, tau_out):
    """Reference numpy projection (improved tangent, no springs) for the timing comparison."""
    tp = X[2:] - X[1:-1]
    tm = X[1:-1] - X[:-2]
    ep, e0, em = E[2:], E[1:-1], E[:-2]
    up = ((ep > e0) & (e0 > em))[:, None]
    down = ((ep < e0) & (e0 < em))[:, None]
    dmax = np.maximum(np.abs(ep - e0), np.abs(em - e0))[:, None]
    dmin = np.minimum(np.abs(ep - e0), np.abs(em - e0))[:, None]
    mix = np.where((ep > em)[:, None], tp * dmax + tm * dmin, tp * dmin + tm * dmax)
    tau = np.where(up, tp, np.where(down, tm, mix))
    tau /= np.linalg.norm(tau, axis=1)[:, None]
    f = F[1:-1] - np.sum(F[1:-1] * tau, axis=1)[:, None] * tau
    f = f.reshape(f.shape[0], -1, 3)
    f -= f.mean(axis=1, keepdims=True)
    tau_out[1:-1] = tau
    return np.sqrt((f**2).sum(axis=2)).max()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8, help="pairs for the default method")
    ap.add_argument("--subset", type=int, default=3, help="pairs for each variant")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tlspipe-bench/neb_pairs_1500_md.npz"))
    ap.add_argument("--ab", metavar="BASE_SRC", help="time the package in BASE_SRC against this one, alternated")
    ap.add_argument("--rounds", type=int, default=2, help="--ab: passes over the pairs")
    ap.add_argument("--write-reference", action="store_true",
                    help=f"write the default run's results to {REFERENCE.name} (with the code to compare against)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.cache)

    from tlspipe import model
    from tlspipe.engine import ForceField
    from tlspipe.path.glass import FullBand, unwrap_to
    from tlspipe.path.neb import interpolate, neb_forces

    hbar = model.unit_preset("paper").hbar  # the default convention
    t = time.perf_counter()
    pairs, diam, box = make_pairs(args.pairs, args.cache)
    print(f"pairs_setup: {time.perf_counter() - t:.1f} s")
    print(f"pairs: {len(pairs)} count")
    d0 = []
    for xa, xb in pairs:
        dx = unwrap_to(xb, xa, box) - xa
        d0.append(float(np.linalg.norm(dx - dx.mean(axis=0))))
    print(f"pair_d0_median: {np.median(d0):.3f} sigma")
    if args.ab:
        return ab(args.ab, args.cache, len(pairs), args.rounds)
    run(pairs[:1], diam, box, hbar, max_iter=5)  # compile everything once

    # default: string method + L-BFGS on the full band
    res = run(pairs, diam, box, hbar)
    secs = np.array([s for s, _ in res])
    its = np.array([r.n_iter for _, r in res])
    print(f"default_status: {','.join(r.status for _, r in res)} -")
    print(f"default_iterations_median: {np.median(its):.0f} iterations")
    print(f"default_ms_per_iteration: {1e3 * np.median(secs / np.maximum(its, 1)):.1f} ms")
    print(f"default_seconds_per_pair_median: {np.median(secs):.2f} s")
    print(f"default_profile_analysis_seconds_median: "
          f"{np.median([r.info.get('analysis_seconds', np.nan) for _, r in res]):.3f} s")
    now = [summary(r, s) for s, r in res]
    keys = [pair_key(xa, xb, diam, box) for xa, xb in pairs]
    if args.write_reference:
        REFERENCE.write_text(json.dumps({"pairs": [dict(d0=k[0], e_b_minus_e_a=k[1], **x) for k, x in zip(keys, now)]},
                                        indent=1) + "\n")
        print(f"reference_written: {len(now)} pairs")
        return
    sub = pairs[: args.subset]
    base = np.median(secs[: args.subset])
    print(f"default_seconds_per_pair_subset: {base:.2f} s")

    variants = {
        "quickmin": dict(optimiser="quickmin", dt=0.05, max_iter=3000),
        "fire_string": dict(optimiser="fire", max_iter=3000),
        "plain_neb_kappa1_fire": dict(method="neb", optimiser="fire", spring=1.0, spring_max=1.0,
                                      tol_ref_length=0.0, max_iter=3000),
        "active_preconditioner": dict(active=True, active_disp=0.01),
        "tol_unscaled_1e-4": dict(tol_ref_length=0.0),
    }
    for name, kw in variants.items():
        r = run(sub, diam, box, hbar, **kw)
        s = np.median([x for x, _ in r])
        ok = sum(rr.neb is not None and rr.neb.converged for _, rr in r)
        print(f"{name}_seconds_per_pair: {s:.2f} s")
        print(f"{name}_converged: {ok}/{len(r)} pairs")
        print(f"{name}_iterations_median: {np.median([rr.n_iter for _, rr in r]):.0f} iterations")

    # neighbour lists: one list for the band, images in SIMD lanes (default) vs one Verlet list per image vs
    # one list (one ForceField) for all images in turn
    xa, xb = pairs[0]
    xb = unwrap_to(xb, xa, box)
    band = interpolate(xa.ravel(), xb.ravel(), 40)
    band_list = FullBand(diam, box, 38)
    per_image = FullBand(diam, box, 38, shared=False)
    band_list(band[1:-1])
    per_image(band[1:-1])
    shared = ForceField(diam, box)
    n_rep = 20
    t = time.perf_counter()
    for _ in range(n_rep):
        band_list(band[1:-1])
    t_band = (time.perf_counter() - t) / n_rep
    t = time.perf_counter()
    for _ in range(n_rep):
        per_image(band[1:-1])
    t_per = (time.perf_counter() - t) / n_rep
    b0 = shared.n_builds
    t = time.perf_counter()
    for _ in range(n_rep):
        for k in range(1, 39):
            shared.energy_forces(band[k].reshape(-1, 3))
    t_sh = (time.perf_counter() - t) / n_rep
    print(f"band_forces_band_list_simd: {1e3 * t_band:.2f} ms")
    print(f"band_list_pairs: {band_list.slist[4] if band_list.slist else 0} count")
    print(f"band_forces_per_image_lists: {1e3 * t_per:.2f} ms")
    print(f"band_forces_shared_list: {1e3 * t_sh:.2f} ms")
    print(f"shared_list_rebuilds_per_band: {(shared.n_builds - b0) / n_rep:.1f} count")

    # projection: compiled kernel vs numpy
    E = np.linspace(0, 1, 40) * (1 - np.linspace(0, 1, 40))
    F = np.zeros_like(band)
    e, f = band_list(band[1:-1])
    F[1:-1] = f
    tau, fn = np.zeros_like(band), np.zeros_like(band)
    neb_forces(band, E, F, 0.0, -1, 3, True, tau, fn)
    t = time.perf_counter()
    for _ in range(n_rep):
        neb_forces(band, E, F, 0.0, -1, 3, True, tau, fn)
    t_c = (time.perf_counter() - t) / n_rep
    t = time.perf_counter()
    for _ in range(n_rep):
        numpy_neb_forces(band, E, F, tau)
    t_np = (time.perf_counter() - t) / n_rep
    print(f"projection_compiled: {1e3 * t_c:.2f} ms")
    print(f"projection_numpy: {1e3 * t_np:.2f} ms")

    # freezing: the active band alone (frozen far field) vs the converged full band
    from scipy.interpolate import PchipInterpolator

    from tlspipe.path.active import ActiveBand, select_active
    from tlspipe.path.neb import run_neb
    from tlspipe.path.profile import arc_length

    g = np.linspace(0, 1, 1001)
    errs, tf = [], []
    for (_, full), (xa, xb) in zip(res[: args.subset], sub):
        if full.neb is None or not full.neb.converged:
            continue
        xb = unwrap_to(xb, xa, box)
        xb -= (xb - xa).mean(axis=0)
        act = select_active(xa, xb, box, 0.01, 2.0)
        ff = ForceField(diam, box)
        t = time.perf_counter()
        bf = ActiveBand(xa, xb, diam, box, act, 40)
        r = run_neb(xa[act].ravel(), xb[act].ravel(), bf, ff.energy(xa), ff.energy(xb),
                    d_scale=float(np.linalg.norm(xb - xa)))
        tf.append(time.perf_counter() - t)
        s1, s2 = arc_length(full.neb.band), arc_length(r.band)
        dv = PchipInterpolator(s1 / s1[-1], full.neb.energy)(g) - PchipInterpolator(s2 / s2[-1], r.energy)(g)
        errs.append(np.abs(dv).max())
    if errs:
        print(f"frozen_band_seconds_per_pair: {np.median(tf):.2f} s")
        print(f"frozen_band_max_dV: {max(errs):.2e} epsilon")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} processes")
    ref = json.loads(REFERENCE.read_text())["pairs"] if REFERENCE.exists() else []
    n = min(len(ref), len(now))
    if n and all(abs(r["d0"] - k[0]) < 1e-9 and abs(r["e_b_minus_e_a"] - k[1]) < 1e-9 for r, k in zip(ref, keys)):
        print_equality("neb", ref[:n], now[:n])  # against the stored run of the code before the shared list
    else:
        print("neb_reference: not compared (no reference, or other pairs) -")
    print(f"neb_seconds_per_pair: {np.median(secs):.2f}")


if __name__ == "__main__":
    main()
