"""Defaults of the pair features (a light module: the command line reads it at start-up); the workflow's
``pairs`` section has the same (tests/test_defaults.py keeps them equal)."""

PAIRS_DEFAULTS = dict(
    m=3,  # largest single-particle displacements kept as features (dr_1..dr_m, dist_12..)
    max_delta_e=1.0,  # epsilon: pairs with a larger N (e_b - e_a) are skipped (as the authors did)
)
