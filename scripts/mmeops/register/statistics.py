"""Per-feature statistics in SageMaker Model Monitor's `statistics.json` format.

The format (AWS docs, "Schema for Statistics (statistics.json file)"): per feature
`inferred_type`, `numerical_statistics` with `common.num_present/num_missing`, mean, sum,
std_dev, min, max, and `distribution.kll` holding ten materialized buckets and the KLL sketch
itself as `parameters` and `data` (one list of retained items per level). The sketch is Apache
DataSketches' KLL, the one Model Monitor names; a level-i item stands for 2**i values, so the
file alone gives the quantiles back (`cdf_points`), without the library.

A categorical feature (declared in `monitor.categorical`, or whole numbers with few distinct
values) gets `inferred_type: String` and `string_statistics` instead: `common`,
`distinct_count` and `distribution.categorical.buckets` (`value`, `count`), the same page's
format. train.csv holds numbers only (XGBoost reads numbers), so a category is the number's
text: a whole number without its decimal point ("3", not "3.0"), anything else as Python
writes the float ("2.5").
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


def category(value: float) -> str:
    """A number's category name: "3" for 3.0, "2.5" for 2.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def category_counts(values: np.ndarray) -> dict[str, int]:
    """Category name → rows, missing values left out."""
    present = values[~np.isnan(values)]
    distinct, counts = np.unique(present, return_counts=True)
    return {category(v): int(c) for v, c in zip(distinct, counts, strict=True)}


def categorical_statistics(name: str, values: np.ndarray) -> dict:
    counts = category_counts(values)
    n = sum(counts.values())
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": n, "num_missing": int(values.size - n)},
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {"buckets": [{"value": v, "count": c} for v, c in counts.items()]}
            },
        },
    }


def is_categorical(values: np.ndarray, max_distinct: int) -> bool:
    """Whole numbers with at most `max_distinct` distinct values (a code, a flag, a count
    of few values): compared category by category, not by a distribution's shape."""
    present = values[~np.isnan(values)]
    return inferred_type(present) == "Integral" and np.unique(present).size <= max_distinct


def dataset_statistics(
    names: list[str], matrix: np.ndarray, categorical: frozenset[str] = frozenset()
) -> dict:
    """statistics.json for the columns of `matrix` (rows × len(names), NaN = missing);
    the columns named in `categorical` get string statistics."""
    return {
        "version": 0,
        "dataset": {"item_count": int(matrix.shape[0])},
        "features": [
            categorical_statistics(n, matrix[:, i])
            if n in categorical
            else feature_statistics(n, matrix[:, i])
            for i, n in enumerate(names)
        ],
    }


def common(feature: dict) -> dict:
    """`num_present` / `num_missing` of either kind of feature."""
    kind = "string_statistics" if "string_statistics" in feature else "numerical_statistics"
    return feature[kind]["common"]


def cdf_points(feature: dict) -> tuple[np.ndarray, np.ndarray]:
    """The sketch's retained items, sorted, and the CDF at each (weights 2**level)."""
    data = feature["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"]
    items = np.concatenate([np.asarray(level, dtype=np.float64) for level in data] or [[]])
    weights = np.concatenate([np.full(len(level), 2.0**i) for i, level in enumerate(data)] or [[]])
    order = np.argsort(items, kind="stable")
    items, weights = items[order], weights[order]
    total = weights.sum()
    return items, (np.cumsum(weights) / total if total else weights)
