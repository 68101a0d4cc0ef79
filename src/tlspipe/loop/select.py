"""Which pairs get the exact (NEB + Schroedinger) calculation, and when the loop stops."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import columns as C

LOOP_DEFAULTS = dict(
    k0=200,  # pairs labelled in round 0
    screen_fraction=0.5,  # of them, this fraction from the cheap screening (smallest d), the rest uniform
    batch=100,  # K_i: pairs per later round
    max_rounds=4,  # rounds after round 0
    stop_fraction=0.01,  # stop when a round adds fewer than this fraction of the TLS found so far
    dw_threshold=0.5,  # a pair is a DW candidate when the predicted DW probability is at least this
    qs_factor=None,  # optional: only pairs with predicted E_qs < qs_factor * tls_threshold
    min_hops=0,  # candidates: pairs seen hopping at least this many times (T_ab + T_ba); 0 = every pair
    min_train_dw=8,  # fewer DW than this: the E_qs model falls back to the DW probability for ranking
    pretrain=[],  # labelled tables trained on from round 0 (tlspipe.loop.pretrain)
    tls_threshold_kelvin=1.0,  # a study of another model: the TLS threshold in kelvin (sets tls_threshold)
    pretrain_any_model=False,  # a study of another model: pretrain tables only when this says they are meant
)

KEY = C.IDS


def _key_index(df: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(df[KEY])


def exclude_done(candidates: pd.DataFrame, done: pd.DataFrame | None) -> pd.DataFrame:
    """Candidates whose (glass, is_a, is_b) is not in done."""
    if done is None or len(done) == 0:
        return candidates
    mask = ~_key_index(candidates).isin(_key_index(done))
    return candidates[mask]


def initial_batch(pairs: pd.DataFrame, k0: int, seed: int, screen_fraction: float = 0.5) -> pd.DataFrame:
    """Round 0: a first screening and a uniform sample.

    No pair is labelled yet, so double wells are not known; they are rare among random pairs, and a classifier
    trained on random pairs alone would see few of them.  The screening therefore takes ``screen_fraction`` of
    K0 from the pairs with the smallest total displacement d (double wells and TLS are localised, short
    rearrangements), and the rest uniformly from all other pairs; the classifier is later trained with
    balanced class weights.  Returns IDS columns, sorted.
    """
    k0 = min(int(k0), len(pairs))
    n_screen = int(round(screen_fraction * k0))
    by_d = pairs.sort_values([C.D, *KEY], kind="stable")
    screened = by_d.iloc[:n_screen]
    rest = exclude_done(pairs, screened)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(rest), size=min(k0 - n_screen, len(rest)), replace=False)
    out = pd.concat([screened[KEY], rest.iloc[np.sort(pick)][KEY]], ignore_index=True)
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def seen_hopping(pairs: pd.DataFrame, min_hops: int = 0) -> pd.DataFrame:
    """The pairs the exploration saw hop between their two IS at least ``min_hops`` times (T_ab + T_ba,
    either way); every pair when ``min_hops`` is 0.

    Why this is a sound prior for TLS: a TLS's barrier is of order 0.01 epsilon, below the exploration's
    k_B T = 0.04, so MD crosses it within a few quenches and the pair is seen hopping; a pair never seen to
    hop is separated by a high barrier or by other minima, which is what makes a predicted double well
    fail.  Unlike the standard procedure's filter (min(T_ab, T_ba) >= 4), a single hop is enough."""
    if min_hops <= 0:
        return pairs
    return pairs[(pairs[C.T_AB] + pairs[C.T_BA]) >= int(min_hops)]


def pair_codes(a, b) -> np.ndarray | None:
    """(is_a, is_b) as one int64 each, or None when an index is no integer in [0, 2**31)."""
    a, b = np.asarray(a), np.asarray(b)
    if not len(a):
        return np.zeros(0, np.int64)
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu" or min(a.min(), b.min()) < 0 \
            or max(a.max(), b.max()) >= 2**31:
        return None
    return a.astype(np.int64) << 32 | b.astype(np.int64)


def _isin_pairs(a, b, key_a, key_b) -> np.ndarray:
    """Whether each (a, b) is one of the (key_a, key_b): as :func:`pair_codes` when every index is an integer
    in [0, 2**31), else through a MultiIndex."""
    if len(a) == 0 or len(key_a) == 0:
        return np.zeros(len(a), dtype=bool)
    code, keys = pair_codes(a, b), pair_codes(key_a, key_b)
    if code is not None and keys is not None:
        return np.isin(code, keys)
    return pd.MultiIndex.from_arrays([np.asarray(a), np.asarray(b)]).isin(
        pd.MultiIndex.from_arrays([np.asarray(key_a), np.asarray(key_b)]))


def key_mask(df: pd.DataFrame, keys: pd.DataFrame | None) -> np.ndarray:
    """Whether each row's (glass, is_a, is_b) is in keys, glass by glass (what exclude_done tests, in a
    time linear in the rows rather than through a MultiIndex of all of them)."""
    out = np.zeros(len(df), dtype=bool)
    if keys is None or len(keys) == 0 or len(df) == 0:
        return out
    wanted = keys.groupby(C.GLASS, sort=False).indices
    a, b = df[C.IS_A].to_numpy(), df[C.IS_B].to_numpy()
    ka, kb = keys[C.IS_A].to_numpy(), keys[C.IS_B].to_numpy()
    for g, pos in df.groupby(C.GLASS, sort=False).indices.items():
        kpos = wanted.get(g)
        if kpos is not None:
            out[pos] = _isin_pairs(a[pos], b[pos], ka[kpos], kb[kpos])
    return out


def first_rows(key, is_a, is_b, k: int) -> np.ndarray:
    """Positions of the k rows first in the order (key, is_a, is_b), NaN keys last: the order of
    ``sort_values([key, glass, is_a, is_b])`` within one glass, found in linear time (np.partition), the
    rows tied at the k-th key ranked by (is_a, is_b).  In no particular order."""
    key = np.asarray(key, dtype=float)
    n = len(key)
    if n <= k:
        return np.arange(n)
    if k <= 0:
        return np.arange(0)
    v = np.partition(key, k - 1)[k - 1]  # NaN sort last, as in pandas
    if np.isnan(v):
        strict, tie = ~np.isnan(key), np.isnan(key)
    else:
        strict, tie = key < v, key == v
    need = k - int(strict.sum())
    ti = np.flatnonzero(tie)
    ti = ti[np.lexsort((np.asarray(is_b)[ti], np.asarray(is_a)[ti]))[:need]]
    return np.sort(np.concatenate([np.flatnonzero(strict), ti]))


def batch_candidates(predictions: pd.DataFrame, done: pd.DataFrame | None, k: int, dw_threshold: float = 0.5,
                     qs_factor: float | None = None, tls_threshold: float = 0.0015) -> pd.DataFrame:
    """The rows of a part of the predictions that :func:`next_batch` can choose: per glass, of the pairs not
    in done, the k first predicted double wells by (pred_e_qs, ids) and the k first by (-pred_dw, ids).

    next_batch on the concatenated candidates of the parts of a study's predictions chooses what it chooses
    on all of them (its orders are total, so the k first of a union are among the k first of each part),
    which lets a round's batch be chosen one glass, or one slice of a table, at a time."""
    keep = []
    not_done = ~key_mask(predictions, done)
    for _, pos in predictions.groupby(C.GLASS, sort=False).indices.items():
        pos = pos[not_done[pos]]
        sub = predictions.iloc[pos]
        a, b = sub[C.IS_A].to_numpy(), sub[C.IS_B].to_numpy()
        p_dw, p_qs = sub["pred_dw"].to_numpy(), sub["pred_e_qs"].to_numpy()  # compared in their own dtype
        dw = p_dw >= dw_threshold
        if qs_factor is not None:
            dw &= p_qs < qs_factor * tls_threshold
        dw_pos = np.flatnonzero(dw)
        keep += [pos[dw_pos[first_rows(p_qs[dw_pos], a[dw_pos], b[dw_pos], k)]],
                 pos[first_rows(-p_dw.astype(float), a, b, k)]]
    rows = np.unique(np.concatenate(keep)) if keep else np.arange(0)
    return predictions.iloc[rows].reset_index(drop=True)


def next_batch(predictions: pd.DataFrame, done: pd.DataFrame, k: int, dw_threshold: float = 0.5,
               qs_factor: float | None = None, tls_threshold: float = 0.0015) -> pd.DataFrame:
    """The k pairs with the lowest predicted E_qs among predicted double wells not yet computed.

    predictions: IDS + ``pred_dw`` + ``pred_e_qs``.  When fewer than k candidates pass the DW threshold, the
    remaining places go to the most probable double wells (so a batch is never empty while pairs remain).
    """
    cand = exclude_done(predictions, done)
    dw = cand[cand["pred_dw"] >= dw_threshold]
    if qs_factor is not None:
        dw = dw[dw["pred_e_qs"] < qs_factor * tls_threshold]
    first = dw.sort_values(["pred_e_qs", *KEY], kind="stable").iloc[:k]
    if len(first) < k:
        rest = exclude_done(cand, first).sort_values(["pred_dw", *KEY], ascending=[False, True, True, True],
                                                     kind="stable")
        first = pd.concat([first, rest.iloc[: k - len(first)]])
    return first[KEY].reset_index(drop=True)


def baseline_batch(pairs: pd.DataFrame, min_transitions: int = 4) -> pd.DataFrame:
    """The standard procedure: every pair observed to hop both ways at least min_transitions times."""
    sel = pairs[np.minimum(pairs[C.T_AB], pairs[C.T_BA]) >= min_transitions]
    return sel[KEY].sort_values(KEY, kind="stable").reset_index(drop=True)


def tls_per_round(exact_by_round: list[pd.DataFrame], tls_threshold: float) -> list[int]:
    out = []
    for df in exact_by_round:
        ok = (df[C.STATUS] == C.STATUS_DW) & (df[C.E_QS] < tls_threshold)
        out.append(int(ok.sum()))
    return out


def should_stop(exact_by_round: list[pd.DataFrame], tls_threshold: float, max_rounds: int,
                stop_fraction: float) -> tuple[bool, str]:
    """Stop after round i = len(exact_by_round) - 1?  Round 0 never stops the loop by the TLS rule."""
    i = len(exact_by_round) - 1
    if i >= max_rounds:
        return True, f"reached loop.max_rounds = {max_rounds}"
    if i == 0:
        return False, "round 0 done"
    if len(exact_by_round[-1]) == 0:
        return True, "no pairs left to compute"
    counts = tls_per_round(exact_by_round, tls_threshold)
    total = sum(counts)
    new = counts[-1]
    if total == 0:  # nothing found yet: keep searching until max_rounds
        return False, f"round {i}: no TLS found yet"
    if new < stop_fraction * total:
        return True, f"round {i} added {new} TLS, fewer than {stop_fraction:.3g} of the {total} found"
    return False, f"round {i} added {new} TLS of {total}"


def split_chunks(batch: pd.DataFrame, chunk: int) -> list[pd.DataFrame]:
    """Split a batch into chunks of at most ``chunk`` pairs, each within one glass (one store per job)."""
    out = []
    for _, g in batch.groupby(C.GLASS, sort=True):
        for s in range(0, len(g), chunk):
            out.append(g.iloc[s : s + chunk].reset_index(drop=True))
    return out
