"""Distribution distances between a baseline feature (its KLL sketch) and a window's values.

`linf` is the largest gap between the two cumulative distributions, the distance Model
Monitor reports for numerical features (its L-infinity distance on the KLL sketches): in
[0, 1], blind to units, sensitive to a shift of location and of scale alike. `psi`, the
population stability index over the baseline's ten buckets, is what credit-risk teams know.

What a distance must reach to count is the method's business (monitor/checks.py): a p-value
in the model's Holm family (calibrated), or a threshold (simple, Deequ's robust).
"""

from __future__ import annotations

import numpy as np

from mmeops.register.statistics import cdf_points

PSI_FLOOR = 1e-4  # an empty bucket would make the logarithm infinite


def linf(feature: dict, values: np.ndarray, points=None) -> float:
    """`points`: the feature's `cdf_points`, when the caller has them already."""
    items, cdf = points if points is not None else cdf_points(feature)
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
