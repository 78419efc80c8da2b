"""The baseline files keep the structure AWS documents for Model Monitor, so existing tooling
reads them: statistics.json ("Schema for Statistics (statistics.json file)",
docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-statistics.html) and
constraints.json ("Schema for Constraints (constraints.json file)",
docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmeops.config.kinds import Monitor
from mmeops.register import baseline
from mmeops.register.statistics import cdf_points

# The documented example's shape: every key, and the type of its value.
STATISTICS_FEATURE = {
    "name": str,
    "inferred_type": str,
    "numerical_statistics": {
        "common": {"num_present": int, "num_missing": int},
        "mean": float,
        "sum": float,
        "std_dev": float,
        "min": float,
        "max": float,
        "distribution": {
            "kll": {
                "buckets": [{"lower_bound": float, "upper_bound": float, "count": int}],
                "sketch": {"parameters": {"c": float, "k": int}, "data": [[float]]},
            }
        },
    },
}
CONSTRAINTS_FEATURE = {
    "name": str,
    "inferred_type": str,
    "completeness": float,
    "num_constraints": {"is_non_negative": bool},
}
MONITORING_CONFIG = {
    "evaluate_constraints": str,
    "emit_metrics": str,
    "datatype_check_threshold": float,
    "domain_content_threshold": float,
    "distribution_constraints": {
        "perform_comparison": str,
        "comparison_threshold": float,
        "comparison_method": str,
    },
}


def conforms(value, shape, where="") -> list[str]:
    """Every place where `value` departs from the documented `shape`."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems = [f"{where}.{k}: missing" for k in shape if k not in value]
        for k in shape:
            if k in value:
                problems += conforms(value[k], shape[k], f"{where}.{k}")
        return problems
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            p for i, item in enumerate(value) for p in conforms(item, shape[0], f"{where}[{i}]")
        ]
    if shape is float:
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else [where]
    return [] if isinstance(value, shape) else [f"{where}: {type(value).__name__}"]


def training_csv(path: Path, rows: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(3)
    label = rng.normal(100, 10, rows)
    x = np.column_stack([rng.normal(5, 2, rows), rng.integers(0, 9, rows), rng.normal(0, 1, rows)])
    x[rng.random(rows) < 0.1, 2] = np.nan
    matrix = np.column_stack([label, x])
    text = "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in matrix)
    path.write_text(text + "\n")
    return matrix


def test_statistics_and_constraints_have_the_documented_structure(tmp_path: Path):
    matrix = training_csv(tmp_path / "train.csv")
    schema = {"target": "y", "features": ["a", "b", "c"], "problem": "regression"}
    stats, cons = baseline.build(tmp_path / "train.csv", schema, Monitor())

    assert stats["version"] == 0 and stats["dataset"] == {"item_count": 3000}
    assert [f["name"] for f in stats["features"]] == ["y", "a", "b", "c"]  # the label too
    for feature in stats["features"]:
        assert conforms(feature, STATISTICS_FEATURE) == [], feature["name"]
        assert feature["inferred_type"] in ("Fractional", "Integral")
        assert len(feature["numerical_statistics"]["distribution"]["kll"]["buckets"]) == 10
    by_name = {f["name"]: f for f in stats["features"]}
    assert by_name["b"]["inferred_type"] == "Integral"
    assert by_name["c"]["numerical_statistics"]["common"]["num_missing"] == int(
        np.isnan(matrix[:, 3]).sum()
    )
    assert abs(by_name["a"]["numerical_statistics"]["mean"] - np.mean(matrix[:, 1])) < 1e-9

    assert cons["version"] == 0
    assert [f["name"] for f in cons["features"]] == ["a", "b", "c"]  # features only
    for feature in cons["features"]:
        assert conforms(feature, CONSTRAINTS_FEATURE) == [], feature["name"]
    assert conforms(cons["monitoring_config"], MONITORING_CONFIG) == []
    assert cons["monitoring_config"]["distribution_constraints"]["comparison_method"] in (
        "Simple",
        "Robust",
    )
    completeness = {f["name"]: f["completeness"] for f in cons["features"]}
    assert completeness["a"] == 1.0 and 0.85 < completeness["c"] < 0.95


def test_the_sketch_in_the_file_gives_the_quantiles_back(tmp_path: Path):
    """The KLL levels stored in statistics.json are enough to rebuild the distribution."""
    matrix = training_csv(tmp_path / "train.csv", rows=20000)
    schema = {"target": "y", "features": ["a", "b", "c"], "problem": "regression"}
    stats, _ = baseline.build(tmp_path / "train.csv", schema, Monitor())
    items, cdf = cdf_points(stats["features"][1])
    assert items.size < 2000  # a sketch, not a copy of 20,000 values
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        estimate = items[np.searchsorted(cdf, q)]
        exact_rank = np.mean(matrix[:, 1] <= estimate)
        assert abs(exact_rank - q) < 0.02, q
