"""Data-quality and model-quality checks: baseline + window in, violations out. Pure.

Violations use Model Monitor's `constraint_violations.json` entries (AWS docs, "Schema for
Violations"): `feature_name`, `constraint_check_type` (data_type_check, completeness_check,
baseline_drift_check, missing_column_check, ...) and `description`. Two checks the
documented list lacks are named in the same style: `range_check` (a value far outside what
training saw) and `non_negative_check` (a negative value where training had none). A model-
quality violation names `metric_name` and `GreaterThanThreshold` / `LessThanThreshold`, the
comparison Model Monitor's model-quality constraints use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mmeops.config.kinds import Monitor
from mmeops.monitor import distance

Z_COMPLETENESS = 3.0  # binomial noise allowance on the missing fraction, in standard errors


@dataclass(frozen=True)
class FeatureResult:
    name: str
    distance: float | None  # None when the feature could not be compared
    limit: float  # what the distance had to exceed: max(threshold, chance) or threshold
    violations: tuple[dict, ...] = ()

    @property
    def drift(self) -> bool:
        return any(v["constraint_check_type"] == "baseline_drift_check" for v in self.violations)


@dataclass(frozen=True)
class DataQuality:
    rows: int
    features: tuple[FeatureResult, ...] = ()
    violations: tuple[dict, ...] = ()  # every violation, features' and dataset-level
    skipped: str = ""  # why nothing was compared (too few rows), else ""

    @property
    def score(self) -> float:
        """The run's drift score: the largest distance relative to its limit (1 = at it)."""
        ratios = [f.distance / f.limit for f in self.features if f.distance is not None]
        return max(ratios, default=0.0)


def _violation(feature: str, check: str, description: str) -> dict:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def _completeness(name: str, expected: float, values: np.ndarray, tolerance: float) -> list[dict]:
    observed = 1 - float(np.isnan(values).mean())
    noise = Z_COMPLETENESS * math.sqrt(max(expected * (1 - expected), 1e-12) / values.size)
    if observed < expected - max(tolerance, noise):
        return [
            _violation(
                name,
                "completeness_check",
                f"completeness {observed:.3f} is below the baseline's {expected:.3f}",
            )
        ]
    return []


def _type(name: str, inferred: str, present: np.ndarray, monitoring: dict) -> list[dict]:
    """An Integral baseline fed fractional values beyond datatype_check_threshold."""
    if inferred != "Integral" or not present.size:
        return []
    fractional = float(np.mean(np.floor(present) != present))
    if fractional <= monitoring.get("datatype_check_threshold", 0.1):
        return []
    return [
        _violation(
            name,
            "data_type_check",
            f"{fractional:.1%} of values are fractional; the baseline is Integral",
        )
    ]


def type_violation(name: str, type_name: str) -> dict:
    """A feature the query now returns as something other than a number."""
    return _violation(
        name, "data_type_check", f"column {name} is {type_name}, not a number, in the window"
    )


def _range(name: str, num: dict, constraint: dict, present: np.ndarray, margin: float) -> list:
    found = []
    low, high = num["min"], num["max"]
    if present.size and low is not None and high is not None:
        # Widened by `margin` times the training range (a constant feature: its magnitude):
        # heavy tails pass, sentinel values (-999, 99999) and unit mix-ups do not.
        slack = margin * (high - low if high > low else max(abs(high), 1.0))
        outside = present[(present < low - slack) | (present > high + slack)]
        if outside.size:
            found.append(
                _violation(
                    name,
                    "range_check",
                    f"{outside.size} value(s) outside the baseline's range [{low:.6g}, "
                    f"{high:.6g}] widened by {margin:g}x its width, e.g. {outside[0]:.6g}",
                )
            )
    if constraint.get("num_constraints", {}).get("is_non_negative") and np.any(present < 0):
        found.append(
            _violation(
                name,
                "non_negative_check",
                f"{int(np.sum(present < 0))} negative value(s); the baseline has none",
            )
        )
    return found


def check_feature(
    stat: dict, constraint: dict, values: np.ndarray, settings: Monitor, monitoring: dict
) -> FeatureResult:
    """Every check of one feature: completeness, type, range, sign, distribution."""
    name = stat["name"]
    num = stat["numerical_statistics"]
    present = values[~np.isnan(values)]
    found = _completeness(
        name, constraint.get("completeness", 1.0), values, settings.completeness_tolerance
    )
    found += _type(name, constraint.get("inferred_type", ""), present, monitoring)
    found += _range(name, num, constraint, present, settings.range_margin)
    threshold = settings.thresholds.get(name, settings.threshold)
    limit = threshold
    if settings.method == "robust":
        limit = max(
            threshold,
            distance.chance(settings.distance, num["common"]["num_present"], present.size),
        )
    measured = distance.DISTANCES[settings.distance](stat, present) if present.size else None
    if measured is not None and measured > limit:
        found.append(
            _violation(
                name,
                "baseline_drift_check",
                f"{settings.distance} distance {measured:.4f} exceeds {limit:.4f}",
            )
        )
    return FeatureResult(name, measured, limit, tuple(found))


def data_quality(
    statistics: dict,
    constraints: dict,
    columns: list[str],
    column_values: dict[str, np.ndarray],
    settings: Monitor,
    ignore: tuple[str, ...] = (),
) -> DataQuality:
    """Compare a window's columns with the baseline. `ignore`: columns that are not features
    (the label, the time column)."""
    rows = len(next(iter(column_values.values()))) if column_values else 0
    expected = [c["name"] for c in constraints["features"]]
    dataset: list[dict] = [
        _violation(n, "missing_column_check", f"column {n} is no longer in the query's result")
        for n in expected
        if n not in columns
    ]
    dataset += [
        _violation(n, "extra_column_check", f"column {n} is not in the baseline")
        for n in columns
        if n not in expected and n not in ignore
    ]
    if rows < settings.min_rows:
        skipped = f"{rows} rows in the window, fewer than monitor.min_rows ({settings.min_rows})"
        return DataQuality(rows, (), tuple(dataset), skipped)
    stats = {f["name"]: f for f in statistics["features"]}
    monitoring = constraints.get("monitoring_config", {})
    results = tuple(
        check_feature(stats[c["name"]], c, column_values[c["name"]], settings, monitoring)
        for c in constraints["features"]
        if c["name"] in column_values and c["name"] in stats
    )
    every = tuple(dataset) + tuple(v for r in results for v in r.violations)
    return DataQuality(rows, results, every)


@dataclass(frozen=True)
class ModelQuality:
    labeled_rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    violations: tuple[dict, ...] = ()
    skipped: str = ""


def model_quality(
    bounds: Sequence[tuple[str, str, float]], metrics: dict[str, float], labeled: int
) -> ModelQuality:
    """The served version's gate metrics on the window's labeled rows against their absolute
    bounds ((metric, "min" or "max", bound), the headline metric first): one violation per
    metric on the wrong side of its bound."""
    violations = []
    for metric, direction, bound in bounds:
        value = metrics[metric]
        if not (value > bound if direction == "min" else value < bound):
            continue
        check = "GreaterThanThreshold" if direction == "min" else "LessThanThreshold"
        description = (
            f"{metric} {value:.6g} on {labeled} labeled rows is "
            f"{'above' if direction == 'min' else 'below'} the gate bound {bound:.6g}"
        )
        violations.append(
            {"metric_name": metric, "constraint_check_type": check, "description": description}
        )
    return ModelQuality(labeled, metrics, tuple(violations))
