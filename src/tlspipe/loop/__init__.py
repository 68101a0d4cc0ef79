"""Iterative training (the ML-steered search) and the standard procedure it is compared with.

Round 0 labels K0 pairs with the exact path; each round i trains the DW classifier and the E_qs regressor on
everything labelled so far, predicts every pair, and the next batch is the K lowest predicted E_qs among
pairs predicted to be double wells and not yet computed.  The loop stops when a round adds fewer than
``stop_fraction`` of the TLS found so far, or at ``max_rounds``.  The standard procedure computes every pair
with min(T_ab, T_ba) >= ``min_transitions``.
"""

from .select import (LOOP_DEFAULTS, baseline_batch, initial_batch, next_batch, should_stop, split_chunks)

__all__ = ["LOOP_DEFAULTS", "initial_batch", "next_batch", "should_stop", "baseline_batch", "split_chunks"]
