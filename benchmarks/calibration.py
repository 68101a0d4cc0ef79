"""Calibration against the authors' own exact calculations (Ciarella et al. 2023 public data).

What it does (each step cached in --work, so a rerun only computes what is missing):

1. imports the authors' 367 inherent structures of one Tf = 0.062 glass (``import-lammps``: 20 files that are
   not minima are re-minimised; duplicates merge) and computes the features of every pair with ΔE <= 0.1;
2. picks the calibration set by a fixed rule on features (``tlspipe.calibration.CALIBRATION_RULE``: one
   local rearrangement, 0.05 < d < 0.7, ΔE < 0.1; a seeded uniform sample of --pairs of them);
3. computes the exact path of every pair under each unit convention (--conventions, default ``argon`` and
   ``paper``) with the default exact-path options, and compares the E_qs of every double well with the
   median E_qs of the authors' comparable double wells (ΔE within ±30 %, d within ±20 %) in their table
   ``pretraining-predictor-T0062.parquet``;
4. checks the double-well test: the 5 pairs the authors computed in this glass must come out not_dw, and
   every pair that the early stop called not_dw is recomputed without the early stop (--confirm-early);
5. with --candidates, measures each candidate cause of a scale difference on the same double wells: hbar
   (unit preset), the grid, the extension beyond the ends, the coordinate (straight end-to-end distance
   instead of the arc length), and the path protocol (the paper's spring NEB, kappa = 1, FIRE, no climbing
   image, tolerance 1e-3, at most 2,000 iterations, against the string method with climbing image); and
   with --hessian, the lowest vibrational eigenvalue at the lower minimum of the double wells whose E_qs is
   set by hbar omega (ΔE > 0.05): no 1D cut through a minimum can be softer than that eigenvalue.

Prints ``name: value unit`` lines, per convention ``<convention>.dw_pairs``, ``.eqs_ratio_median``,
``.eqs_ratio_iqr``, ``.seconds_per_pair``.  One core.  Usage::

    python benchmarks/calibration.py [--authors DIR] [--pairs 80] [--confirm-early]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"  # one core

import argparse  # noqa: E402
import logging  # noqa: E402
import tarfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AUTHORS = Path(os.environ.get("TLSPIPE_AUTHORS_DATA", REPO.parent / "shared" / "authors_ciarella2023"))
TARBALL = "is_T0.062_Cnf-148750000.tar.xz"


def prepare_glass(authors: Path, work: Path):
    """(store path, features DataFrame) of the authors' glass, built once in ``work``."""
    from tlspipe.pairs.features import featurise_store
    from tlspipe.store.importer import import_lammps_dir

    work.mkdir(parents=True, exist_ok=True)
    store = work / "is.h5"
    if not store.exists():
        raw = work / "Cnf-148750000"
        if not raw.exists():
            tmp = work / "Cnf-148750000.partial"
            tmp.mkdir(exist_ok=True)
            with tarfile.open(authors / TARBALL) as tf:
                tf.extractall(tmp, filter="data")
            tmp.rename(raw)
        import warnings

        with warnings.catch_warnings(record=True) as caught:  # 20 files are not minima: re-minimised
            warnings.simplefilter("always")
            summary = import_lammps_dir(raw, store, glass="authors_T0.062_Cnf-148750000")
        print(f"import.reminimised: {len(summary['reminimised'])} files ({len(caught)} warnings)")
    feats = work / "pairs.parquet"
    featurise_store(store, feats, max_delta_e=0.1, threads=1)
    return store, pd.read_parquet(feats)


def authors_nondw_pairs(authors: Path, work: Path) -> pd.DataFrame:
    """The 5 pairs the authors computed in this glass (all not double wells by their NEB), recomputed from
    the published files: status per pair.  An energy with no file (0.2046589935) takes the nearest
    published IS; a file that is not a minimum is recomputed as it is (and refused as an end)."""
    from tlspipe import model
    from tlspipe.path.glass import neb_pair
    from tlspipe.store.lammps import read_lammps_data

    raw = work / "Cnf-148750000"
    names = sorted(p.name[: -len(".conf.txt")] for p in raw.glob("*.conf.txt"))
    energies = np.array([float(n) for n in names])
    t = pd.read_csv(authors / "nondw_Cnf-148750000.csv")
    rows = []
    for i, j in zip(t["i"], t["j"]):
        fa, fb = (read_lammps_data(raw / f"{names[int(np.argmin(np.abs(energies - e)))]}.conf.txt") for e in (i, j))
        r = neb_pair(fa.wrapped(), fb.wrapped(), fa.diameters, fa.box, model.unit_preset("paper").hbar)
        rows.append({"i": i, "j": j, "status": r.status})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=Path, default=AUTHORS, help="the authors' data folder")
    ap.add_argument("--work", type=Path, default=REPO / "benchmarks" / "out" / "calibration",
                    help="cache folder (store, features, results per convention)")
    ap.add_argument("--pairs", type=int, default=80, help="size of the calibration set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--conventions", default="argon,paper", help="comma-separated unit presets")
    ap.add_argument("--confirm-early", action="store_true",
                    help="recompute every early not_dw without the early stop, to a converged band")
    ap.add_argument("--candidates", action="store_true",
                    help="measure each candidate cause of a scale difference on the same double wells")
    ap.add_argument("--hessian", action="store_true",
                    help="lowest Hessian eigenvalue at the lower minimum of the saturated double wells")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from tlspipe.calibration import eqs_ratios, ratio_summary, read_authors_table, select_calibration_pairs
    from tlspipe.path.batch import run_pairs

    if not (args.authors / TARBALL).exists():
        raise SystemExit(f"{args.authors / TARBALL}: not found; pass --authors DIR (the folder with the "
                         "authors' public data) or set TLSPIPE_AUTHORS_DATA")
    store, feats = prepare_glass(args.authors, args.work)
    sel = select_calibration_pairs(feats, n=args.pairs, seed=args.seed)
    ref = read_authors_table(args.authors / "pretraining-predictor-T0062.parquet")
    print(f"glass_is: {len(np.unique(np.r_[feats.is_a, feats.is_b]))} IS")
    print(f"calibration_pairs: {len(sel)} pairs")
    results = {}
    for conv in [c.strip() for c in args.conventions.split(",") if c.strip()]:
        out = args.work / f"exact_{conv}.parquet"
        prof = args.work / f"profiles_{conv}.h5"
        if out.exists() and not prof.exists():  # a cache from a run that kept no profiles: start again
            out.unlink()
        res = run_pairs(store, sel[["is_a", "is_b"]], out, {"units": conv},
                        profiles_path=prof)
        results[conv] = res
        r = eqs_ratios(res, feats, ref)
        s = ratio_summary(r["ratio"])
        counts = res["status"].value_counts().to_dict()
        print(f"{conv}.status: {counts}")
        print(f"{conv}.dw_pairs: {int((res['status'] == 'dw').sum())} pairs")
        print(f"{conv}.compared_pairs: {s['n']} pairs")
        print(f"{conv}.eqs_ratio_median: {s['median']:.3f}")
        print(f"{conv}.eqs_ratio_iqr: {s['q25']:.3f}-{s['q75']:.3f}")
        print(f"{conv}.tls: {int(((res['status'] == 'dw') & (res['e_qs'] < 0.0015)).sum())} pairs")
        print(f"{conv}.seconds_per_pair: {float(np.median(res['seconds'])):.2f} s")
    nondw = authors_nondw_pairs(args.authors, args.work)
    print(f"authors_nondw_pairs: {nondw['status'].value_counts().to_dict()}")
    if args.confirm_early:
        first = next(iter(results.values()))
        early = first[(first["status"] == "not_dw") & first["barrier"].isna()]
        conf = run_pairs(store, early[["is_a", "is_b"]], args.work / "early_confirmed.parquet",
                         {"units": "paper", "early_not_dw": False, "max_iter": 20000})
        print(f"early_not_dw: {len(early)} pairs")
        print(f"early_not_dw_confirmed_not_dw: {int((conf['status'] == 'not_dw').sum())} of {len(conf)}")
        print(f"early_not_dw_converged_dw: {int((conf['status'] == 'dw').sum())} of {len(conf)}")
        print(f"early_not_dw_failed: {int(conf['status'].str.startswith('failed').sum())} of {len(conf)}")
    if args.candidates:
        candidates(args, store, feats, sel, ref, results)
    if args.hessian:
        hessian_bound(store, feats, results)
    return 0


def candidates(args, store, feats, sel, ref, results):
    """Effect of each candidate on E_qs of the same double wells (median change, and the ratio to the
    authors').  The Schroedinger variants re-solve the stored argon profiles; the path variant recomputes."""
    import h5py
    from scipy.interpolate import PchipInterpolator

    from tlspipe import model
    from tlspipe.calibration import eqs_ratios, ratio_summary
    from tlspipe.path.batch import run_pairs
    from tlspipe.path.schrodinger import solve_levels

    base = results.get("argon")
    if base is None:
        raise SystemExit("--candidates needs the argon convention among --conventions")
    hb = model.unit_preset("argon").hbar
    f = feats.set_index(["is_a", "is_b"])
    rows = []
    with h5py.File(args.work / "profiles_argon.h5") as h:
        for glass in h:
            for key, g in h[glass].items():
                if g.attrs["status"] != "dw":
                    continue
                a, b = map(int, key.split("_"))
                xi, v, d = g["xi"][:], g["energy"][:], float(g.attrs["path_length"])

                def eqs(hbar=hb, length=d, grid=2001, extend=True):
                    m = np.ones(xi.size, bool) if extend else (xi >= 0) & (xi <= 1)
                    sp = PchipInterpolator(xi[m] * length, v[m], extrapolate=False)
                    return solve_levels(sp, xi[m][0] * length, xi[m][-1] * length, hbar, 1.0, n_grid=grid).splitting

                rows.append({"is_a": a, "is_b": b, "status": "dw", "base": eqs(),
                             "hbar_nip": eqs(model.unit_preset("nip").hbar),
                             "hbar_paper": eqs(model.unit_preset("paper").hbar),
                             "grid_501": eqs(grid=501), "grid_8001": eqs(grid=8001),
                             "no_extension": eqs(extend=False), "straight_distance": eqs(length=f.loc[(a, b), "d"])})
    var = pd.DataFrame(rows)
    for c in var.columns[4:].tolist() + ["base"]:
        s = ratio_summary(eqs_ratios(var.assign(e_qs=var[c]), feats, ref)["ratio"])
        print(f"candidate.{c}.eqs_change_median: {np.median(var[c] / var['base']):.3f}")
        print(f"candidate.{c}.eqs_ratio_median: {s['median']:.3f}")
    dw = base[base["status"] == "dw"][["is_a", "is_b"]]
    spring = run_pairs(store, dw, args.work / "exact_paper_protocol.parquet",
                       {"units": "argon", "method": "neb", "spring": 1.0, "spring_ref_length": 0.0,
                        "optimiser": "fire", "climb": False, "tol": 1e-3, "tol_ref_length": 0.0,
                        "max_iter": 2000})
    both = spring.merge(base, on=["is_a", "is_b"], suffixes=("", "_string"))
    ok = both[(both["status"] == "dw") & (both["status_string"] == "dw")]
    print(f"candidate.spring_neb.status: {spring['status'].value_counts().to_dict()}")
    print(f"candidate.spring_neb.eqs_change_median: {np.median(ok['e_qs'] / ok['e_qs_string']):.3f}")
    print(f"candidate.spring_neb.eqs_change_iqr: {np.percentile(ok['e_qs'] / ok['e_qs_string'], 25):.3f}-"
          f"{np.percentile(ok['e_qs'] / ok['e_qs_string'], 75):.3f}")
    print(f"candidate.spring_neb.path_length_change_median: {np.median(ok['path_length'] / ok['path_length_string']):.3f}")
    s = ratio_summary(eqs_ratios(spring, feats, ref)["ratio"])
    print(f"candidate.spring_neb.eqs_ratio_median: {s['median']:.3f}")


def hessian_bound(store, feats, results):
    """Lowest non-zero Hessian eigenvalue at the lower end of every saturated double well (ΔE > 0.05), by
    Lanczos on finite differences of the forces; hbar sqrt(lambda) bounds hbar omega of any 1D cut."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    from tlspipe import model
    from tlspipe.engine import ForceField
    from tlspipe.store.isstore import read_positions, read_store

    base = results.get("argon")
    st = read_store(store, positions=False)
    n = st.diameters.size
    ff = ForceField(st.diameters, st.box, skin=0.3)
    trans = np.zeros((3 * n, 3))
    for k in range(3):
        trans[k::3, k] = 1.0 / np.sqrt(n)
    sat = base[(base["status"] == "dw") & (base["delta_e"] > 0.05)]
    lam = []
    for a in sorted(set(sat["is_a"])):  # is_a is the lower-energy IS
        x0 = read_positions(store, [a])[0].ravel()

        def hv(v, h=1e-5):
            v = v - trans @ (trans.T @ v)
            fp = ff.energy_forces((x0 + h * v).reshape(n, 3))[1].ravel()
            fm = ff.energy_forces((x0 - h * v).reshape(n, 3))[1].ravel()
            r = -(fp - fm) / (2 * h)
            return r - trans @ (trans.T @ r)

        w = eigsh(LinearOperator((3 * n, 3 * n), matvec=hv, dtype=float), k=4, which="SA", tol=1e-6,
                  return_eigenvectors=False)
        lam.append(float(np.min(w[w > 1e-6])))
    keys = list(zip(sat["is_a"], sat["is_b"]))
    for u in ("argon", "paper"):
        if u in results:
            e = results[u].set_index(["is_a", "is_b"]).loc[keys, "e_qs"]
            print(f"saturated.{u}.e_qs_median: {np.median(e):.4f} epsilon")
        print(f"saturated.{u}.hbar_sqrt_lambda_min: {model.unit_preset(u).hbar * np.sqrt(min(lam)):.4f} epsilon")
    print(f"saturated.double_wells: {len(sat)} pairs, {len(lam)} lower minima")
    print(f"saturated.lambda_min: {min(lam):.3f}-{max(lam):.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
