"""tlspipe: find two-level systems (TLS) in computer glasses with physics steered by machine learning.

Reduced Lennard-Jones-like units throughout: energies in epsilon, lengths in the mean diameter sigma,
masses m = 1, times in sqrt(m sigma^2 / epsilon). Conversions to kelvin and the reduced Planck constant
for a chosen material live in :mod:`tlspipe.model`.
"""

import os as _os

__version__ = "0.1.0"

# OpenMP threads of the boosting libraries spin while they wait by default, which starves the other
# processes of a busy machine (2-thread LightGBM training went from 0.6 s to 27 s with the cores
# oversubscribed); passive waiting costs nothing when a core is free.  A user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
