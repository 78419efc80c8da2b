"""Data-quality and model-quality checks: baseline + window in, violations out. Pure.

Violations use Model Monitor's `constraint_violations.json` entries (AWS docs, "Schema for
Violations"): `feature_name`, `constraint_check_type` (data_type_check, completeness_check,
baseline_drift_check, categorical_values_check, missing_column_check, ...) and
`description`. Two checks the documented list lacks are named in the same style:
`range_check` (values beyond what training saw) and `non_negative_check` (negative values
where training had none). (Model quality: monitor/quality.py.)

Every check of a model is a `Test`; with the default method (calibrated) each has a p-value
(monitor/significance.py) and Holm's procedure over all of a model's tests decides, so the
model's false-alarm rate per window is at most `false_alarm_rate`. The robust (Deequ's
formula) and simple methods decide drift and range by thresholds instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmeops.config.kinds import Monitor
from mmeops.monitor import distance, significance
from mmeops.register.statistics import category_counts, cdf_points

DEEQU_ROBUST = 1.8  # Deequ's linf_robust: threshold + 1.8 * sqrt((n + m) / nm)


@dataclass(frozen=True)
class Rules:
    """The settings a check runs with: the baseline's constraints.json (monitoring_config, as
    Model Monitor reads it), overridden by what model.yaml's `monitor:` sets explicitly."""

    method: str
    distance: str
    threshold: float
    thresholds: dict
    categorical_threshold: float
    alpha: float
    completeness_tolerance: float
    range_margin: float
    datatype_threshold: float
    domain_threshold: float
    perform_comparison: bool
    evaluate_constraints: bool
    min_rows: int


def rules(settings: Monitor, constraints: dict) -> Rules:
    config = constraints.get("monitoring_config", {})
    dist = config.get("distribution_constraints", {})
    explicit = settings.model_fields_set
    method = settings.method
    if "method" not in explicit and "comparison_method" in dist:
        method = str(dist["comparison_method"]).lower()
    threshold = settings.threshold
    if "threshold" not in explicit and "comparison_threshold" in dist:
        threshold = float(dist["comparison_threshold"])
    return Rules(
        method=method if method in ("calibrated", "robust", "simple") else "calibrated",
        distance=settings.distance,
        threshold=threshold,
        thresholds=dict(settings.thresholds),
        categorical_threshold=float(dist.get("categorical_comparison_threshold", threshold)),
        alpha=settings.false_alarm_rate,
        completeness_tolerance=settings.completeness_tolerance,
        range_margin=settings.range_margin,
        datatype_threshold=float(config.get("datatype_check_threshold", 0.1)),
        domain_threshold=float(config.get("domain_content_threshold", 0.1)),
        perform_comparison=dist.get("perform_comparison", "Enabled") == "Enabled",
        evaluate_constraints=config.get("evaluate_constraints", "Enabled") == "Enabled",
        min_rows=settings.min_rows,
    )


@dataclass(frozen=True)
class Test:
    """One check of one feature. With a p-value it joins the model's Holm family and counts
    only when Holm rejects it and its effect floor (`flagged`) is met; without one it is a
    rule (a missing column, the simple and robust methods' thresholds): `flagged` decides."""

    feature: str
    check: str
    p: float | None
    flagged: bool
    description: str


@dataclass(frozen=True)
class FeatureResult:
    name: str
    distance: float | None  # None when the feature could not be compared
    limit: float  # robust/simple: what the distance had to exceed; calibrated: Holm's cut
    violations: tuple[dict, ...] = ()
    p: float | None = None  # the smallest p-value of its drift tests (calibrated)
    categorical: bool = False

    @property
    def drift(self) -> bool:
        return any(v["constraint_check_type"] == "baseline_drift_check" for v in self.violations)

    @property
    def score(self) -> float:
        """1 at the edge of a violation, above it beyond: distance / limit, or for a p-value
        log p / log(alpha / tests), Bonferroni's cut (Holm's first step)."""
        if self.p is not None:
            return math.log(max(self.p, 1e-300)) / math.log(self.limit)
        return self.distance / self.limit if self.distance is not None else 0.0


@dataclass(frozen=True)
class DataQuality:
    rows: int
    features: tuple[FeatureResult, ...] = ()
    violations: tuple[dict, ...] = ()  # every violation, features' and dataset-level
    skipped: str = ""  # why nothing was compared (too few rows), else ""
    tests: int = 0  # the size of the Holm family
    alpha: float = 0.0

    @property
    def score(self) -> float:
        """The run's drift score: the largest feature score (1 = at the limit)."""
        return max((f.score for f in self.features), default=0.0)


def _violation(feature: str, check: str, description: str) -> dict:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def type_violation(name: str, type_name: str) -> dict:
    """A feature the query now returns as something other than a number."""
    return _violation(
        name, "data_type_check", f"column {name} is {type_name}, not a number, in the window"
    )


def _completeness(name: str, base: dict, values: np.ndarray, rules: Rules) -> Test:
    base_total = base["num_present"] + base["num_missing"]
    missing = int(np.isnan(values).sum())
    expected = base["num_present"] / base_total if base_total else 1.0
    observed = 1 - missing / values.size
    p = significance.completeness_p(base["num_missing"], base_total, missing, values.size)
    return Test(
        name,
        "completeness_check",
        p,
        observed < expected - rules.completeness_tolerance,
        f"completeness {observed:.3f} is below the baseline's {expected:.3f} (p={p:.2g})",
    )


def _type(name: str, constraint: dict, present: np.ndarray, n: int, rules: Rules) -> list[Test]:
    """An Integral baseline fed fractional values beyond datatype_check_threshold."""
    if constraint.get("inferred_type") != "Integral" or not present.size:
        return []
    k = int(np.sum(np.floor(present) != present))
    fraction = k / present.size
    p = significance.exceed_p(k, n, present.size)
    return [
        Test(
            name,
            "data_type_check",
            p,
            fraction > rules.datatype_threshold,
            f"{fraction:.1%} of values are fractional; the baseline is Integral",
        )
    ]


def _range_rule(name: str, num: dict, present: np.ndarray, margin: float) -> list[Test]:
    """The simple and robust methods' rule: a value beyond [min, max] widened by `margin`
    times the training range flags (sentinels, unit mix-ups; heavy tails too, at small n)."""
    low, high = num["min"], num["max"]
    slack = margin * (high - low if high > low else max(abs(high), 1.0))
    outside = present[(present < low - slack) | (present > high + slack)]
    return [
        Test(
            name,
            "range_check",
            None,
            bool(outside.size),
            f"{outside.size} value(s) outside the baseline's range [{low:.6g}, {high:.6g}] "
            f"widened by {margin:g}x its width, e.g. {outside[0] if outside.size else 0:.6g}",
        )
    ]


def _range_tests(name: str, num: dict, present: np.ndarray, n: int) -> list[Test]:
    """How many values lie beyond the baseline's max (min), against the exact chance that so
    many of m new rows beat the extreme of n: the limit grows with m / n by itself."""
    tests = []
    for side, bound, k in (
        ("above", num["max"], int(np.sum(present > num["max"]))),
        ("below", num["min"], int(np.sum(present < num["min"]))),
    ):
        p = significance.exceed_p(k, n, present.size)
        described = (
            f"{k} of {present.size} values {side} the baseline's {bound:.6g} "
            f"(its extreme over {n} rows; chance p={p:.2g})"
        )
        tests.append(Test(name, "range_check", p, k > 0, described))
    return tests


def _sign(name: str, constraint: dict, present: np.ndarray, n: int, calibrated: bool) -> list:
    negative = int(np.sum(present < 0))
    if not constraint.get("num_constraints", {}).get("is_non_negative") or not negative:
        return []
    p = significance.exceed_p(negative, n, present.size) if calibrated else None
    described = f"{negative} negative value(s); the baseline's {n} rows had none"
    return [Test(name, "non_negative_check", p, True, described)]


def _numeric_drift(
    stat: dict, present: np.ndarray, rules: Rules
) -> tuple[list[Test], float | None, float]:
    """Drift tests of a numeric feature, its distance and the limit (robust/simple)."""
    name = stat["name"]
    n, m = stat["numerical_statistics"]["common"]["num_present"], present.size
    if not m or not n:
        return [], None, 1.0
    points = cdf_points(stat)
    if rules.distance == "linf":
        measured = distance.linf(stat, present, points)
    else:
        measured = distance.DISTANCES[rules.distance](stat, present)
    threshold = rules.thresholds.get(name, rules.threshold)
    if rules.method == "calibrated":
        error = significance.sketch_error(stat)
        mean_rank = float(significance.mid_ranks(*points, present).mean())
        linf = measured if rules.distance == "linf" else distance.linf(stat, present, points)
        p_rank = significance.rank_p(mean_rank, n, m, error)
        p_ks = significance.ks_p(linf, n, m, error)
        return (
            [
                Test(
                    name,
                    "baseline_drift_check",
                    p_rank,
                    True,
                    f"location moved: mean baseline rank of the window's values {mean_rank:.3f} "
                    f"(0.5 unmoved; p={p_rank:.2g})",
                ),
                Test(
                    name,
                    "baseline_drift_check",
                    p_ks,
                    True,
                    f"distribution changed: linf distance {linf:.4f} (p={p_ks:.2g})",
                ),
            ],
            measured,
            threshold,
        )
    limit = threshold
    if rules.method == "robust":
        limit = threshold + DEEQU_ROBUST * math.sqrt((n + m) / (n * m))
    described = f"{rules.distance} distance {measured:.4f} exceeds {limit:.4f}"
    return [Test(name, "baseline_drift_check", None, measured > limit, described)], measured, limit


def _numeric(stat: dict, constraint: dict, values: np.ndarray, rules: Rules):
    name = stat["name"]
    num = stat["numerical_statistics"]
    present = values[~np.isnan(values)]
    n = num["common"]["num_present"]
    tests: list[Test] = []
    if rules.evaluate_constraints and constraint:
        tests.append(_completeness(name, num["common"], values, rules))
        tests += _type(name, constraint, present, n, rules)
        if present.size and num["min"] is not None:
            calibrated = rules.method == "calibrated"
            tests += (
                _range_tests(name, num, present, n)
                if calibrated
                else _range_rule(name, num, present, rules.range_margin)
            )
            tests += _sign(name, constraint, present, n, calibrated)
    drift_tests, measured, limit = (
        _numeric_drift(stat, present, rules) if rules.perform_comparison else ([], None, 1.0)
    )
    return tests + drift_tests, measured, limit


def _categorical_linf(base: dict[str, int], window: dict[str, int]) -> float:
    n, m = sum(base.values()), sum(window.values())
    keys = sorted(set(base) | set(window))
    gaps = np.abs(
        np.cumsum([base.get(k, 0) / n for k in keys])
        - np.cumsum([window.get(k, 0) / m for k in keys])
    )
    return float(gaps.max()) if keys else 0.0


def _categorical(stat: dict, constraint: dict, values: np.ndarray, rules: Rules):
    name = stat["name"]
    strings = stat["string_statistics"]
    base = {b["value"]: b["count"] for b in strings["distribution"]["categorical"]["buckets"]}
    window = category_counts(values)
    n, m = sum(base.values()), sum(window.values())
    tests: list[Test] = []
    if rules.evaluate_constraints and constraint:
        tests.append(_completeness(name, strings["common"], values, rules))
        domain = set(constraint.get("string_constraints", {}).get("domains", base))
        unseen = sum(c for v, c in window.items() if v not in domain)
        if unseen:
            singletons = sum(1 for c in base.values() if c == 1)
            p = significance.unseen_p(unseen, m, singletons, n)
            examples = ", ".join(sorted(v for v in window if v not in domain)[:3])
            tests.append(
                Test(
                    name,
                    "categorical_values_check",
                    p if rules.method == "calibrated" else None,
                    unseen / m > rules.domain_threshold,
                    f"{unseen / m:.1%} of values are outside the baseline's domain "
                    f"(e.g. {examples}; p={p:.2g})",
                )
            )
    if not rules.perform_comparison or not m or not n:
        return tests, None, 1.0
    measured = _categorical_linf(base, window)
    if rules.method == "calibrated":
        p = significance.chi_square_p(base, window)
        described = f"category shares changed: linf {measured:.4f}, chi-square p={p:.2g}"
        return tests + [Test(name, "baseline_drift_check", p, True, described)], measured, 1.0
    limit = rules.thresholds.get(name, rules.categorical_threshold)
    if rules.method == "robust":
        limit += DEEQU_ROBUST * math.sqrt((n + m) / (n * m))
    described = f"linf distance {measured:.4f} between category shares exceeds {limit:.4f}"
    return (
        tests + [Test(name, "baseline_drift_check", None, measured > limit, described)],
        measured,
        limit,
    )


def _feature_tests(stat: dict, constraint: dict, values: np.ndarray, rules: Rules):
    if "string_statistics" in stat:
        return (*_categorical(stat, constraint, values, rules), True)
    return (*_numeric(stat, constraint, values, rules), False)


def _decide(tests: list[Test], alpha: float) -> tuple[list[bool], float]:
    """Which tests are violations, and Bonferroni's cut (alpha / family size)."""
    tested = [i for i, t in enumerate(tests) if t.p is not None]
    rejected = significance.holm([tests[i].p for i in tested], alpha)
    decided = [t.flagged and t.p is None for t in tests]
    for i, r in zip(tested, rejected, strict=True):
        decided[i] = r and tests[i].flagged
    return decided, alpha / max(len(tested), 1)


def data_quality(
    statistics: dict,
    constraints: dict,
    columns: list[str],
    column_values: dict[str, np.ndarray],
    settings: Monitor,
    ignore: tuple[str, ...] = (),
    outputs: Sequence[tuple[dict, np.ndarray]] = (),
) -> DataQuality:
    """Compare a window's columns with the baseline, every check of the model in one Holm
    family. `ignore`: columns that are not features (the label, the time column);
    `outputs`: (baseline statistics entry, window values) of the label and the predictions,
    whose drift (label drift, prediction drift) joins the family."""
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
    rule = rules(settings, constraints)
    if rows < rule.min_rows or rows == 0:
        skipped = (
            f"{rows} rows in the window, fewer than monitor.min_rows ({rule.min_rows}): not judged"
        )
        return DataQuality(rows, (), tuple(dataset), skipped, 0, rule.alpha)
    stats = {f["name"]: f for f in statistics["features"]}
    cons = {c["name"]: c for c in constraints["features"]}
    compared = [
        (stats[n], cons[n], column_values[n]) for n in expected if n in column_values and n in stats
    ]
    compared += [
        (stat, {}, values) for stat, values in outputs if values.size >= rule.min_rows
    ]  # drift tests only: their constraints are the gate's business
    per_feature = []
    tests: list[Test] = []
    for stat, constraint, values in compared:
        found, measured, limit, categorical = _feature_tests(stat, constraint, values, rule)
        per_feature.append((stat["name"], measured, limit, categorical, len(tests), len(found)))
        tests += found
    decided, cut = _decide(tests, rule.alpha)
    results = []
    for name, measured, limit, categorical, first, count in per_feature:
        own = list(zip(tests[first : first + count], decided[first : first + count], strict=True))
        drift_p = [t.p for t, _ in own if t.check == "baseline_drift_check" and t.p is not None]
        results.append(
            FeatureResult(
                name,
                measured,
                cut if drift_p else limit,
                tuple(_violation(t.feature, t.check, t.description) for t, bad in own if bad),
                min(drift_p) if drift_p else None,
                categorical,
            )
        )
    every = tuple(dataset) + tuple(v for r in results for v in r.violations)
    return DataQuality(rows, tuple(results), every, "", len(tests), rule.alpha)
