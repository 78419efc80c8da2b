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
STRING_FEATURE = {
    "name": str,
    "inferred_type": str,
    "string_statistics": {
        "common": {"num_present": int, "num_missing": int},
        "distinct_count": float,
        "distribution": {"categorical": {"buckets": [{"value": str, "count": int}]}},
    },
}
STRING_CONSTRAINTS_FEATURE = {
    "name": str,
    "inferred_type": str,
    "completeness": float,
    "string_constraints": {"domains": [str]},
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
    by_name = {f["name"]: f for f in stats["features"]}
    for name in ("y", "a", "c"):
        assert conforms(by_name[name], STATISTICS_FEATURE) == [], name
        assert by_name[name]["inferred_type"] == "Fractional"
        assert len(by_name[name]["numerical_statistics"]["distribution"]["kll"]["buckets"]) == 10
    # b holds nine whole numbers: a categorical feature, in the documented string format,
    # its categories written as the numbers' text ("3", not "3.0").
    assert conforms(by_name["b"], STRING_FEATURE) == []
    assert by_name["b"]["inferred_type"] == "String"
    buckets = by_name["b"]["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert sorted(b["value"] for b in buckets) == [str(i) for i in range(9)]
    assert sum(b["count"] for b in buckets) == 3000
    assert by_name["c"]["numerical_statistics"]["common"]["num_missing"] == int(
        np.isnan(matrix[:, 3]).sum()
    )
    assert abs(by_name["a"]["numerical_statistics"]["mean"] - np.mean(matrix[:, 1])) < 1e-9

    assert cons["version"] == 0
    assert [f["name"] for f in cons["features"]] == ["a", "b", "c"]  # features only
    for feature in cons["features"]:
        shape = STRING_CONSTRAINTS_FEATURE if feature["name"] == "b" else CONSTRAINTS_FEATURE
        assert conforms(feature, shape) == [], feature["name"]
    assert conforms(cons["monitoring_config"], MONITORING_CONFIG) == []
    # Model Monitor knows Simple and Robust; Calibrated is ours (docs/monitoring.md).
    assert cons["monitoring_config"]["distribution_constraints"]["comparison_method"] in (
        "Simple",
        "Robust",
        "Calibrated",
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


def test_a_declared_categorical_is_compared_by_category(tmp_path: Path):
    """A feature declared in monitor.categorical gets string statistics even with many
    values; a fractional feature with few values stays numerical unless declared."""
    training_csv(tmp_path / "train.csv")
    schema = {"target": "y", "features": ["a", "b", "c"], "problem": "regression"}
    stats, cons = baseline.build(
        tmp_path / "train.csv", schema, Monitor(categorical=["a"], categorical_max_distinct=5)
    )
    kinds = {f["name"]: f["inferred_type"] for f in stats["features"]}
    assert kinds == {"y": "Fractional", "a": "String", "b": "Integral", "c": "Fractional"}
    domains = {f["name"]: f.get("string_constraints") for f in cons["features"]}
    assert len(domains["a"]["domains"]) == 3000 and domains["b"] is None
