"""P-values for every check, and Holm's procedure over a model's checks. Pure.

Each function answers: if the window were drawn from the baseline's population, how likely
is a result at least this far from it? A model's window is violated when Holm's step-down
procedure over ALL its p-values (every feature, every check) rejects at the model's
`false_alarm_rate`: the chance that a clean window raises any alarm is then at most that rate,
whatever the number of features, the baseline's rows or the window's (Holm, "A simple
sequentially rejective multiple test procedure", 1979: valid under any dependence).

The baseline is a KLL sketch, not the rows: when it has compacted, its ranks are off by up to
`sketch_error` (DataSketches' bound at 99% confidence), and the distances below give that
much away before they count (conservative: a smaller false-alarm rate, a little less power).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

from mmeops.register.statistics import KLL_K

MIN_EXPECTED = 5.0  # chi-square: categories expected fewer times than this are pooled


@functools.cache
def _kll_error(k: int) -> float:
    import datasketches

    return float(datasketches.kll_doubles_sketch.get_normalized_rank_error(k, False))


def sketch_error(feature: dict) -> float:
    """0 when the sketch still holds every value (one level), else the KLL rank error."""
    sketch = feature["numerical_statistics"]["distribution"]["kll"]["sketch"]
    if len(sketch["data"]) <= 1:
        return 0.0
    return _kll_error(int(sketch["parameters"].get("k", KLL_K)))


def exceed_p(k: int, n: int, m: int) -> float:
    """P(at least k of m new rows lie beyond the extreme of n baseline rows) when all n + m
    are exchangeable: the k most extreme of the n + m are then all new rows, probability
    C(m, k) / C(n + m, k). Exact for continuous values, conservative with ties; no
    distribution assumed, so heavy tails do not raise it."""
    if k <= 0:
        return 1.0
    if k > m:
        return 0.0
    i = np.arange(k)
    return float(math.exp(np.sum(np.log(m - i) - np.log(n + m - i))))


def mid_ranks(items: np.ndarray, cdf: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The baseline's mid-distribution function at each value: F(x-) + (F(x) - F(x-)) / 2."""
    below = np.searchsorted(items, values, side="left")
    upto = np.searchsorted(items, values, side="right")
    cum = np.concatenate([[0.0], cdf])
    return (cum[below] + cum[upto]) / 2


def rank_p(mean_rank: float, n: int, m: int, error: float = 0.0) -> float:
    """Wilcoxon-Mann-Whitney: `mean_rank` is U / nm, the mean of the baseline's mid-ranks at
    the window's values; 1/2 under the null, variance (n + m + 1) / 12nm (no tie
    correction: with ties the true variance is smaller, so this is conservative). Sees a
    shift of location with about 95% of a t-test's efficiency, without normality."""
    gap = max(0.0, abs(mean_rank - 0.5) - error)
    sd = math.sqrt((n + m + 1) / (12 * n * m))
    return float(2 * special.ndtr(-gap / sd))


def ks_p(distance: float, n: int, m: int, error: float = 0.0) -> float:
    """Two-sample Kolmogorov-Smirnov, the asymptotic distribution with Stephens' small-sample
    correction (Numerical Recipes 14.3); conservative with ties. Sees changes of scale and
    shape that a rank test misses."""
    en = math.sqrt(n * m / (n + m))
    return float(min(1.0, special.kolmogorov((en + 0.12 + 0.11 / en) * max(0.0, distance - error))))


def completeness_p(base_missing: int, base_total: int, missing: int, total: int) -> float:
    """One-sided Fisher exact test: more missing values in the window than in the baseline."""
    table = [[missing, total - missing], [base_missing, base_total - base_missing]]
    return float(scipy_stats.fisher_exact(table, alternative="greater").pvalue)


def chi_square_p(base: dict[str, int], window: dict[str, int]) -> float:
    """Chi-square test of homogeneity between the baseline's category counts and the
    window's. Categories expected fewer than 5 times in the smaller sample, and values the
    baseline never saw, are pooled into one (itself merged into the smallest category while
    it is still too small), so every expected cell count is at least 5 and the chi-square
    approximation holds out in the tail where Holm's cut lies."""
    n, m = sum(base.values()), sum(window.values())
    if not n or not m:
        return 1.0
    small = min(n, m)
    kept = sorted((c for c in base if base[c] * small / n >= MIN_EXPECTED), key=base.get)
    pooled = [n - sum(base[c] for c in kept), m - sum(window.get(c, 0) for c in kept)]
    cells = [[base[c], window.get(c, 0)] for c in kept]
    if pooled[0] * small / n >= MIN_EXPECTED:
        cells.append(pooled)
    elif cells:
        cells[0] = [cells[0][0] + pooled[0], cells[0][1] + pooled[1]]
    if len(cells) < 2:
        return 1.0
    return pearson_p(np.array(cells, dtype=np.float64).T)


def pearson_p(table: np.ndarray) -> float:
    """Pearson's chi-square test of homogeneity on a 2 x J table, with Yates' continuity
    correction when J = 2 (scipy.stats.chi2_contingency's statistic, without its overhead:
    it runs for every categorical feature of every model)."""
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    gap = np.abs(table - expected)
    dof = table.shape[1] - 1
    if dof == 1:
        gap = np.maximum(gap - 0.5, 0.0)
    return float(special.chdtrc(dof, float(np.sum(gap**2 / expected))))


def unseen_p(unseen: int, m: int, singletons: int, n: int) -> float:
    """P(at least `unseen` of m rows take values the baseline never saw): binomial with the
    Good-Turing estimate of the unseen mass, (singletons + 1) / (n + 1) (+1: conservative)."""
    if unseen <= 0:
        return 1.0
    return float(scipy_stats.binom.sf(unseen - 1, m, (singletons + 1) / (n + 1)))


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise rate alpha."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for step, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - step):
            break
        rejected[i] = True
    return rejected
