"""tlspipe: find two-level systems (TLS) in computer glasses with physics steered by machine learning.

Reduced Lennard-Jones-like units throughout: energies in epsilon, lengths in the mean diameter sigma,
masses m = 1, times in sqrt(m sigma^2 / epsilon). Conversions to kelvin and the reduced Planck constant
for a chosen material live in :mod:`tlspipe.model`.
"""

__version__ = "0.1.0"
