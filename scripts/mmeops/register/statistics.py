"""Per-feature statistics in SageMaker Model Monitor's `statistics.json` format.

The format (AWS docs, "Schema for Statistics (statistics.json file)"): per feature
`inferred_type`, `numerical_statistics` with `common.num_present/num_missing`, mean, sum,
std_dev, min, max, and `distribution.kll` holding ten materialized buckets and the KLL sketch
itself as `parameters` and `data` (one list of retained items per level). The sketch is Apache
DataSketches' KLL, the one Model Monitor names; a level-i item stands for 2**i values, so the
file alone gives the quantiles back (`cdf_points`), without the library.
"""

from __future__ import annotations

import math

import datasketches
import numpy as np

KLL_K = 200  # normalized rank error about 1.3%: far below any drift threshold that matters
KLL_C = 2 / 3  # DataSketches' KLL capacity decay between levels
BUCKETS = 10  # Model Monitor materializes ten buckets (AWS docs, same page)


def inferred_type(present: np.ndarray) -> str:
    """ "Integral" when every present value is a whole number, else "Fractional"."""
    if present.size and np.all(np.floor(present) == present):
        return "Integral"
    return "Fractional"


def _kll(present: np.ndarray) -> dict:
    sketch = datasketches.kll_doubles_sketch(KLL_K)
    if present.size:
        sketch.update(present)
    levels: dict[int, list[float]] = {}
    for item, weight in sketch:
        levels.setdefault(int(weight).bit_length() - 1, []).append(float(item))
    depth = max(levels, default=-1) + 1
    return {
        "parameters": {"c": KLL_C, "k": KLL_K},
        "data": [sorted(levels.get(level, [])) for level in range(depth)],
    }


def _buckets(present: np.ndarray) -> list[dict]:
    if not present.size:
        return []
    counts, edges = np.histogram(present, bins=BUCKETS)
    return [
        {"lower_bound": float(lo), "upper_bound": float(hi), "count": int(n)}
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def feature_statistics(name: str, values: np.ndarray) -> dict:
    """One feature's entry; NaN is a missing value."""
    present = values[~np.isnan(values)]
    n = int(present.size)
    return {
        "name": name,
        "inferred_type": inferred_type(present),
        "numerical_statistics": {
            "common": {"num_present": n, "num_missing": int(values.size - n)},
            "mean": _number(present.mean()) if n else None,
            "sum": float(present.sum()),
            "std_dev": _number(present.std()) if n else None,
            "min": float(present.min()) if n else None,
            "max": float(present.max()) if n else None,
            "distribution": {"kll": {"buckets": _buckets(present), "sketch": _kll(present)}},
        },
    }


def dataset_statistics(names: list[str], matrix: np.ndarray) -> dict:
    """statistics.json for the columns of `matrix` (rows × len(names), NaN = missing)."""
    return {
        "version": 0,
        "dataset": {"item_count": int(matrix.shape[0])},
        "features": [feature_statistics(n, matrix[:, i]) for i, n in enumerate(names)],
    }


def cdf_points(feature: dict) -> tuple[np.ndarray, np.ndarray]:
    """The sketch's retained items, sorted, and the CDF at each (weights 2**level)."""
    data = feature["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"]
    items = np.concatenate([np.asarray(level, dtype=np.float64) for level in data] or [[]])
    weights = np.concatenate([np.full(len(level), 2.0**i) for i, level in enumerate(data)] or [[]])
    order = np.argsort(items, kind="stable")
    items, weights = items[order], weights[order]
    total = weights.sum()
    return items, (np.cumsum(weights) / total if total else weights)
