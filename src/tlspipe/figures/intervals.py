"""Exact confidence intervals for the counts and rates of the tables and figures (valid for small counts).

* :func:`clopper_pearson`: a binomial proportion k / n (TLS per exact calculation);
* :func:`garwood`: the mean of a Poisson count (TLS found after so many calculations);
* :func:`rate_ratio`: the ratio of two rates k1 / n1 over k2 / n2 (the gain of the iterative procedure), by
  the exact conditional method.
"""

from __future__ import annotations

from scipy import stats

LEVEL = 0.95


def clopper_pearson(k, n, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of the binomial proportion k / n.

    Lower bound: the alpha/2 quantile of Beta(k, n - k + 1) (0 when k = 0); upper bound: the 1 - alpha/2
    quantile of Beta(k + 1, n - k) (1 when k = n), alpha = 1 - level.  The same numbers as
    ``scipy.stats.binomtest(k, n).proportion_ci(level, method='exact')``.  (NaN, NaN) when n = 0.
    """
    k, n = int(k), int(n)
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k = {k}, n = {n}")
    a = 1.0 - level
    lo = float(stats.beta.ppf(a / 2, k, n - k + 1)) if k > 0 else 0.0
    hi = float(stats.beta.ppf(1 - a / 2, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def garwood(k, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson mean from one count k: chi2(alpha/2; 2k) / 2 (0 when k = 0) to
    chi2(1 - alpha/2; 2k + 2) / 2, alpha = 1 - level."""
    k = int(k)
    if k < 0:
        raise ValueError(f"garwood: need a count >= 0, got {k}")
    a = 1.0 - level
    lo = float(stats.chi2.ppf(a / 2, 2 * k) / 2) if k > 0 else 0.0
    return lo, float(stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2)


def rate_ratio(k1, n1, k2, n2, level: float = LEVEL) -> tuple[float, float, float]:
    """(k1 / n1) / (k2 / n2) and its exact conditional interval: (estimate, lower, upper).

    k1 events in n1 trials (exposure) against k2 in n2, each count Poisson (events rare: p << 1).  Given
    k = k1 + k2, k1 is binomial with p = r n1 / (r n1 + n2), r the ratio of the two rates; the
    Clopper-Pearson interval [p_lo, p_hi] of p = k1 / k turns into r = p / (1 - p) * n2 / n1.  Valid for
    small counts.  k2 = 0: the estimate is undefined (NaN) and the upper bound infinite; k1 = 0: estimate
    and lower bound 0; k = 0: (NaN, 0, inf), nothing learnt.  (NaN, NaN, NaN) when n1 or n2 is 0.
    """
    k1, n1, k2, n2 = int(k1), int(n1), int(k2), int(n2)
    if n1 <= 0 or n2 <= 0:
        return float("nan"), float("nan"), float("nan")
    k = k1 + k2
    if k == 0:
        return float("nan"), 0.0, float("inf")
    p_lo, p_hi = clopper_pearson(k1, k, level)
    scale = n2 / n1
    lo = p_lo / (1.0 - p_lo) * scale
    hi = p_hi / (1.0 - p_hi) * scale if p_hi < 1.0 else float("inf")
    est = (k1 / n1) / (k2 / n2) if k2 > 0 else float("nan")
    return float(est), float(lo), float(hi)


def rate_per(k, n, per: float = 1000.0, level: float = LEVEL) -> tuple[float, float, float]:
    """k / n x per with the Clopper-Pearson interval, (estimate, lower, upper); NaN when n = 0."""
    if int(n) <= 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = clopper_pearson(k, n, level)
    return float(k) / float(n) * per, lo * per, hi * per


__all__ = ["LEVEL", "clopper_pearson", "garwood", "rate_per", "rate_ratio"]
