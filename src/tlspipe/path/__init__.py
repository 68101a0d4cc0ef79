"""Exact paths between inherent structures: NEB (string-method variant with climbing image), the profile
V(xi) and its double-well test, the 1D Schroedinger splitting E_qs, the classical barrier and the WKB
tunnelling element.

Reduced units: energies epsilon, lengths sigma, masses 1; hbar from a unit preset (tlspipe.model).

Main entry points::

    from tlspipe.path import run_pairs, neb_pair, DEFAULTS
    df = run_pairs("is.h5", pairs_df, "exact.parquet", {"units": "paper"})
    res = neb_pair(x_a, x_b, diameters, box, hbar)          # one pair, PairResult

Lower level: :func:`run_neb` (any force callable), :func:`analyse_path`, :func:`solve_levels`,
:func:`wkb_delta0`, :func:`double_well_test`.  Options are typed records (:mod:`tlspipe.path.options`):
:class:`PathOptions` for a batch, made once from a flat mapping by :func:`resolve_config`, hands each layer its
part (:class:`PairOptions`, :class:`NEBOptions`, :class:`ProfileOptions`, :class:`GlassOptions`).
"""

from .batch import DEFAULTS, compute_pair, read_pairs_table, resolve_config, run_pairs, write_xyz
from .glass import GLASS_DEFAULTS, PairResult, neb_pair, unwrap_to
from .neb import NEB_DEFAULTS, NEBResult, run_neb
from .options import GlassOptions, NEBOptions, PairOptions, PathOptions, ProfileOptions
from .profile import PROFILE_DEFAULTS, analyse_path, arc_length, classical_barrier, double_well_test
from .schrodinger import solve_levels, wkb_delta0

__all__ = ["DEFAULTS", "run_pairs", "compute_pair", "read_pairs_table", "resolve_config", "write_xyz",
           "GLASS_DEFAULTS", "PairResult", "neb_pair", "unwrap_to", "NEB_DEFAULTS", "NEBResult", "run_neb",
           "PROFILE_DEFAULTS", "analyse_path", "arc_length", "classical_barrier", "double_well_test",
           "solve_levels", "wkb_delta0", "PathOptions", "PairOptions", "NEBOptions", "ProfileOptions",
           "GlassOptions"]
