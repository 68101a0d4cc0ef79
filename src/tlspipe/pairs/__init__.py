"""Pair features of inherent structures (definitions in :mod:`tlspipe.pairs.features`), computed in compiled chunks and streamed
to Parquet: :func:`featurise_store` for a whole store, :func:`pair_features` for one pair."""

from .features import PairsError, featurise_store, output_schema, pair_features, read_metadata

__all__ = ["PairsError", "featurise_store", "output_schema", "pair_features", "read_metadata"]
