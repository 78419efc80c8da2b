"""The monitor's statistics hold their stated error rates: pure checks on generated data,
no stack (docs/monitoring.md, "Error rates"). benchmarks/monitor.py measures the same at
full size; these are small enough for every test run."""

from __future__ import annotations

import numpy as np
import pytest

from mmeops.config.kinds import Monitor
from mmeops.monitor import checks, quality, significance
from mmeops.register import evaluate
from mmeops.register.baseline import categorical_columns, constraints
from mmeops.register.statistics import dataset_statistics

FEATURES = [f"f{i}" for i in range(10)]


def heavy(rows: int, rng: np.random.Generator) -> np.ndarray:
    """Heavy tails of the kind real tables have: log-normal, Pareto, Student t (2 dof)."""
    cols = []
    for i in range(len(FEATURES)):
        kind = i % 3
        if kind == 0:
            cols.append(rng.lognormal(0, 1.5, rows))
        elif kind == 1:
            cols.append(rng.pareto(1.5, rows))
        else:
            cols.append(rng.standard_t(2, rows))
    return np.column_stack(cols)


def baseline_of(train: np.ndarray, settings: Monitor, names=FEATURES) -> tuple[dict, dict]:
    matrix = np.column_stack([np.zeros(len(train)), train])
    columns = ["y", *names]
    stats = dataset_statistics(columns, matrix, categorical_columns(columns, matrix, settings))
    return stats, constraints(stats, "y", settings)


def violated_windows(settings: Monitor, baseline_rows: int, window_rows: int, windows: int):
    rng = np.random.default_rng(11)
    stats, cons = baseline_of(heavy(baseline_rows, rng), settings)
    alarms = 0
    for _ in range(windows):
        window = heavy(window_rows, rng)
        values = {n: window[:, i] for i, n in enumerate(FEATURES)}
        alarms += bool(checks.data_quality(stats, cons, FEATURES, values, settings).violations)
    return alarms


def test_heavy_tails_on_a_small_baseline_raise_no_false_alarms():
    """200-row baseline, 1,000-row windows, 10 heavy-tailed features: the per-model rate is
    held at 0.005 (expected at most 1 alarm in 200 clean windows; 5 or more has chance
    below 0.4% if the rate were 0.005)."""
    assert violated_windows(Monitor(), 200, 1000, 200) < 5


def test_the_old_fixed_range_margin_fires_on_the_same_windows():
    """The test of the test: the range rule that ignores the baseline's size (method
    simple, range_margin 1) raises alarms on these clean windows most of the time."""
    assert violated_windows(Monitor(method="simple"), 200, 1000, 40) > 10


def test_the_exceedance_probability_is_exact():
    """P(at least k of m new rows beat the max of n) against 20,000 simulated draws."""
    rng = np.random.default_rng(5)
    n, m, k = 60, 40, 3
    draws = rng.random((20_000, n + m))
    beyond = (draws[:, n:] > draws[:, :n].max(axis=1, keepdims=True)).sum(axis=1)
    simulated = float(np.mean(beyond >= k))
    assert significance.exceed_p(k, n, m) == pytest.approx(simulated, abs=0.01)
    assert significance.exceed_p(1, n, m) == pytest.approx(m / (n + m))


def test_holm_rejects_step_by_step():
    # alpha 0.05 over 4: 0.01 <= 0.0125, 0.015 <= 0.0167, then 0.04 > 0.025 stops.
    assert significance.holm([0.04, 0.01, 0.5, 0.015], 0.05) == [False, True, False, True]


def categorical_data(rows: int, rng, shift: float = 0.0) -> np.ndarray:
    """f0: five categories (codes 1..5, shares 40/25/15/12/8%), moved by `shift` into 5."""
    shares = np.array([0.40, 0.25, 0.15, 0.12, 0.08])
    codes = rng.choice(np.arange(1, 6), size=rows, p=shares).astype(float)
    moved = rng.random(rows) < shift
    codes[moved] = 5.0
    return np.column_stack([codes, rng.normal(size=rows)])


def test_a_categorical_shift_is_seen_by_its_chi_square_test():
    rng = np.random.default_rng(3)
    settings = Monitor()
    names = ["f0", "f1"]
    stats, cons = baseline_of(categorical_data(2000, rng), settings, names)
    assert stats["features"][1]["inferred_type"] == "String"
    window = categorical_data(1000, rng, shift=0.10)
    result = checks.data_quality(
        stats, cons, names, {"f0": window[:, 0], "f1": window[:, 1]}, settings
    )
    assert {(v["feature_name"], v["constraint_check_type"]) for v in result.violations} == {
        ("f0", "baseline_drift_check")
    }


def test_a_value_outside_the_domain_is_a_categorical_values_violation():
    rng = np.random.default_rng(4)
    settings = Monitor()
    names = ["f0", "f1"]
    stats, cons = baseline_of(categorical_data(2000, rng), settings, names)
    window = categorical_data(500, rng)
    window[:100, 0] = 9.0  # 20% of rows in a category training never saw
    result = checks.data_quality(
        stats, cons, names, {"f0": window[:, 0], "f1": window[:, 1]}, settings
    )
    found = {v["constraint_check_type"] for v in result.violations if v["feature_name"] == "f0"}
    assert "categorical_values_check" in found


def test_robust_is_deequs_formula():
    """Deequ's linf_robust: drift when linf > threshold + 1.8 sqrt((n + m) / nm)."""
    rng = np.random.default_rng(6)
    settings = Monitor(method="robust", threshold=0.1)
    stats, cons = baseline_of(rng.normal(size=(2000, 10)), settings)
    window = rng.normal(size=(200, 10))
    window[:, 0] += 0.7
    values = {n: window[:, i] for i, n in enumerate(FEATURES)}
    result = checks.data_quality(stats, cons, FEATURES, values, settings)
    limit = 0.1 + 1.8 * np.sqrt((2000 + 200) / (2000 * 200))
    assert result.features[0].limit == pytest.approx(limit)
    assert result.features[0].drift == (result.features[0].distance > limit)


def test_the_bootstrap_metrics_are_evaluates_metrics():
    """On the rows themselves (no resampling) each metric equals evaluate.score's."""
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300).astype(float)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    expected = evaluate.score("binary", y, p)
    for metric in ("auc", "f1", "precision", "recall", "accuracy", "logloss"):
        got = quality.metric_values("binary", metric, y[None, :], p[None, :])[0]
        assert got == pytest.approx(expected[metric], abs=1e-5), metric
    yr, pr = rng.normal(size=300), rng.normal(size=300)
    expected = evaluate.score("regression", yr, pr)
    for metric in ("mae", "rmse", "stdev_error", "r2"):
        got = quality.metric_values("regression", metric, yr[None, :], pr[None, :])[0]
        assert got == pytest.approx(expected[metric], abs=1e-5), metric
