"""Column names of every table tlspipe writes, defined once.

Pair tables (``results/{study}/pairs/{glass}.parquet``) hold IDS + feature_columns(M).
Exact-path tables (NEB + Schroedinger) hold IDS + EXACT.  Learning and figures import these names.
"""

from __future__ import annotations

GLASS, IS_A, IS_B = "glass", "is_a", "is_b"
IDS = [GLASS, IS_A, IS_B]

DELTA_E = "delta_e"  # total energy difference N (e_b - e_a) >= 0, epsilon
D = "d"  # total displacement sqrt(sum_i |dr_i|^2), sigma
PR = "pr"  # participation ratio d^4 / sum_i |dr_i|^4
T_AB = "t_ab"  # transitions lower -> higher IS observed between consecutive quenches
T_BA = "t_ba"  # transitions higher -> lower


def dr_columns(m: int = 3) -> list[str]:
    """The m largest single-particle displacements, descending: dr_1 .. dr_m (sigma)."""
    return [f"dr_{i}" for i in range(1, m + 1)]


def dist_columns(m: int = 3) -> list[str]:
    """Midpoint distances from the most displaced particle to particles 2..m: dist_1_2 .. dist_1_m (sigma)."""
    return [f"dist_1_{i}" for i in range(2, m + 1)]


def feature_columns(m: int = 3) -> list[str]:
    """Model inputs, in a fixed order.  Never ids, ranks or glass labels."""
    return [DELTA_E, *dr_columns(m), D, PR, *dist_columns(m), T_AB, T_BA]


# exact path results
STATUS = "status"  # 'dw', 'not_dw' or 'failed: <reason>'
E_QS = "e_qs"  # quantum splitting E1 - E0, epsilon
E_QS_K = "e_qs_kelvin"  # the same in kelvin for the configured unit preset
BARRIER = "barrier"  # classical barrier V_max - min(V(0), V(1)), epsilon
DELTA0 = "delta0"  # WKB tunnelling element, epsilon
PATH_LENGTH = "path_length"  # arc length of the converged band in 3N dimensions, sigma (>= d)
N_ITER = "n_iter"
SECONDS = "seconds"
EXACT = [STATUS, E_QS, E_QS_K, BARRIER, DELTA_E, PATH_LENGTH, DELTA0, N_ITER, SECONDS]

STATUS_DW = "dw"
STATUS_NOT_DW = "not_dw"


def empty_exact():
    """An exact-path table without rows: columns IDS + EXACT, glass and status text (object), the ids and
    n_iter int64, every other column float64."""
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({c: pd.Series(dtype="object" if c in (GLASS, STATUS) else "float64") for c in IDS + EXACT})
    for c in (IS_A, IS_B, N_ITER):
        df[c] = df[c].astype(np.int64)
    return df

# bookkeeping of the search
ROUND = "round"  # iterative-training round that computed the pair (-1: standard procedure only)
PROCEDURE = "procedure"  # 'iterative', 'standard' or 'both'
IS_DW = "is_dw"
IS_TLS = "is_tls"

# study tables
TF = "tf"  # preparation temperature of the glass
PRED_DW, PRED_E_QS, PRED_BARRIER = "pred_dw", "pred_e_qs", "pred_barrier"  # model predictions
SHAP_VALUE_PREFIX = "value_"  # SHAP tables: the feature values beside the SHAP columns
