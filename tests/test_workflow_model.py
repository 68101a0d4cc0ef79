"""A study of another model: the tiny Kob-Andersen study (config/ka-lj-test.yaml, N = 200) runs prepare (MD
cooling) -> explore (native-lj) -> pairs -> NEB (mass-weighted, tlspipe.path.model_neb) -> loop -> tables and
figures; its config keys (units naming the material, the TLS threshold in kelvin, pretraining tables)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlspipe.workflow import ConfigError, study_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
KA_TEST = REPO / "config" / "ka-lj-test.yaml"


def _cfg(tmp_path, **over):
    import yaml

    cfg = yaml.safe_load(KA_TEST.read_text())
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _study(path):
    import yaml

    return study_config(yaml.safe_load(Path(path).read_text()), [str(path)], schema_path=SCHEMA)


def test_model_study_config_keys(tmp_path):
    cfg = _study(_cfg(tmp_path))
    assert Path(cfg["model"]).is_file()  # the shipped model file, found in the repository
    assert cfg["tls_threshold"] == pytest.approx(1.0 / 119.8)  # 1 K in argon units
    cfg = _study(_cfg(tmp_path, loop={"tls_threshold_kelvin": 2.5}))
    assert cfg["tls_threshold"] == pytest.approx(2.5 / 119.8)
    with pytest.raises(ConfigError, match="units: paper is the soft spheres'"):
        _study(_cfg(tmp_path, units="paper"))
    table = str(tmp_path / "t.parquet")
    with pytest.raises(ConfigError, match="loop.pretrain_any_model: true"):
        _study(_cfg(tmp_path, loop={"pretrain": [table]}))
    cfg = _study(_cfg(tmp_path, loop={"pretrain": [table], "pretrain_any_model": True}))
    assert cfg["loop"]["pretrain"] == [table]
    # the soft-sphere study keeps its threshold in epsilon
    assert _study(REPO / "config" / "test.yaml")["tls_threshold"] == 0.0015


@pytest.fixture(scope="module")
def ka_study(tmp_path_factory):
    d = tmp_path_factory.mktemp("ka_study")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(d),
                        "--cores", "2", "--configfile", str(KA_TEST)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return d / "results" / "ka-lj-test"


def test_ka_study_glass_store_and_exact_results(ka_study):
    from tlspipe.engine.backend import make_backend
    from tlspipe.models import load_model, system_from_data
    from tlspipe.store.isstore import read_store
    from tlspipe.store.lammps import read_lammps_data

    m = load_model(REPO / "config" / "models" / "kob-andersen.yaml")
    (g,) = sorted((ka_study / "glasses").iterdir())
    data = read_lammps_data(g / "equilibrated.data", expected_density=1.2)
    system = system_from_data(data, m)
    assert data.atom_style == "atomic" and np.bincount(system.types).tolist() == [0, 160, 40]
    st = read_store(g / "is.h5")
    assert st.attrs["model_sha256"] == m.sha256 and st.attrs["engine"] == "native" and st.n_is >= 5
    be = make_backend(system)
    for k in range(st.n_is):  # every stored IS is a minimum of the model at its stored energy
        e, f = be.energy_forces(st.positions[k])
        assert e / 200 == pytest.approx(st.energy[k], abs=1e-10) and np.sqrt((f * f).sum(1)).max() < 1e-8
    exact = pd.concat([pd.read_parquet(f) for f in sorted((ka_study / "loop").glob("round_*/exact.parquet"))])
    assert len(exact) == 12 + 6  # k0 + one batch
    assert {"species_1", "species_2", "species_3", "path_length"} <= set(exact.columns)
    assert set(exact["species_1"].dropna().astype(int)) <= {1, 2}
    dw = exact[exact["status"] == "dw"]
    assert np.allclose(dw["e_qs_kelvin"], dw["e_qs"] * 119.8)
    tls = pd.read_parquet(ka_study / "tls.parquet")
    assert (tls["is_tls"] == ((tls["status"] == "dw") & (tls["e_qs"] < 1.0 / 119.8))).all()
    assert (ka_study / "tables" / "table1.csv").exists()
    # the pair features: the soft spheres' columns, then the species of the three most displaced particles
    from tlspipe import columns as C

    pairs = pd.read_parquet(ka_study / "pairs" / f"{g.name}.parquet")
    assert pairs.columns.tolist() == C.IDS + C.feature_columns(3) + ["species_1", "species_2", "species_3"]
    assert set(np.unique(pairs[["species_1", "species_2", "species_3"]])) <= {1, 2}
