"""Distribution distances between a baseline feature (its KLL sketch) and a window's values.

`linf` is the largest gap between the two cumulative distributions, the distance Model
Monitor reports for numerical features (its L-infinity distance on the KLL sketches): in
[0, 1], blind to units, sensitive to a shift of location and of scale alike. `psi`, the
population stability index over the baseline's ten buckets, is what credit-risk teams know.

`chance` is the distance two samples of these sizes from ONE distribution exceed with
probability `alpha`: the `robust` method flags a feature only beyond both it and the
threshold, so a small window cannot raise an alarm by sampling noise alone.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

from mmeops.register.statistics import KLL_K, cdf_points

ALPHA = 0.001
PSI_FLOOR = 1e-4  # an empty bucket would make the logarithm infinite


def _kll_error() -> float:
    import datasketches

    return float(datasketches.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False))


def linf(feature: dict, values: np.ndarray) -> float:
    items, cdf = cdf_points(feature)
    window = np.sort(values)
    if not items.size or not window.size:
        return 0.0
    points = np.concatenate([items, window])
    at = np.searchsorted(items, points, side="right")
    base = np.where(at > 0, cdf[np.maximum(at - 1, 0)], 0.0)
    current = np.searchsorted(window, points, side="right") / window.size
    return float(np.max(np.abs(base - current)))


def _bucket_edges(feature: dict) -> np.ndarray:
    buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
    inner = [b["upper_bound"] for b in buckets[:-1]]
    return np.array([-np.inf, *inner, np.inf])


def psi(feature: dict, values: np.ndarray) -> float:
    buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
    if not buckets or not values.size:
        return 0.0
    base = np.array([b["count"] for b in buckets], dtype=np.float64)
    current, _ = np.histogram(values, bins=_bucket_edges(feature))
    p = np.maximum(base / base.sum(), PSI_FLOOR)
    q = np.maximum(current / values.size, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


DISTANCES = {"linf": linf, "psi": psi}


def chance(distance: str, n_baseline: int, n_window: int, alpha: float = ALPHA) -> float:
    """The distance sampling noise alone exceeds with probability `alpha`."""
    if n_baseline <= 0 or n_window <= 0:
        return math.inf
    if distance == "linf":
        # Two-sample Kolmogorov-Smirnov critical value, plus the sketch's own rank error.
        c = math.sqrt(-math.log(alpha / 2) / 2)
        return c * math.sqrt((n_baseline + n_window) / (n_baseline * n_window)) + _kll_error()
    # PSI is asymptotically chi-square with (buckets - 1) degrees of freedom, scaled by
    # 1/n + 1/m (Yurdakul, "Statistical properties of the population stability index", 2018).
    dof = 9
    return float(scipy_stats.chi2.ppf(1 - alpha, dof)) * (1 / n_baseline + 1 / n_window)
