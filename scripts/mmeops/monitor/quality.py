"""Model quality with its sampling noise: the gate's metrics on the window's labeled rows,
each with a bootstrap percentile interval (Efron & Tibshirani, "An Introduction to the
Bootstrap", ch. 13). Pure. A violation names `metric_name` and `GreaterThanThreshold` /
`LessThanThreshold`, the comparison Model Monitor's model-quality constraints use.

A violation needs the WHOLE interval on the failing side of the bound: with 30 labeled rows a
model that has not degraded lands beyond its bound now and then by chance alone, and in prod
each violation starts a retune. At confidence 1 - a the chance of that is at most a / 2 per
metric (one-sided), up to the percentile interval's own approximation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

RESAMPLES = 1000
SEED = 20261206  # fixed: the same rows give the same interval on every run


def _regression(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """`metric` for each row of y, p (resamples × rows), as evaluate.score computes it."""
    errors = p - y
    if metric == "mae":
        return np.abs(errors).mean(axis=1)
    if metric == "rmse":
        return np.sqrt((errors**2).mean(axis=1))
    if metric == "stdev_error":
        return errors.std(axis=1)
    total = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (errors**2).sum(axis=1) / total


def _auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    ranks = scipy_stats.rankdata(p, axis=1)
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((ranks * y).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)


def _binary(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    if metric == "auc":
        return _auc(y, p)
    if metric == "logloss":
        q = np.clip(p, 1e-15, 1 - 1e-15)
        return -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
    decided = (p >= 0.5).astype(np.float64)
    tp = (decided * y).sum(axis=1)
    if metric == "accuracy":
        return (decided == y).mean(axis=1)
    predicted, actual = decided.sum(axis=1), y.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        if metric == "precision":
            return precision
        if metric == "recall":
            return recall
        return np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)


def metric_values(problem: str, metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The metric on each resample (rows of y and p)."""
    compute = _regression if problem == "regression" else _binary
    return compute(metric, y, p)


def interval(
    problem: str,
    metric: str,
    labels: np.ndarray,
    predictions: np.ndarray,
    confidence: float,
    resamples: int = RESAMPLES,
) -> tuple[float, float]:
    """The percentile bootstrap interval of `metric` at `confidence`; resamples where the
    metric is undefined (one class only: AUC) are left out."""
    rng = np.random.default_rng(SEED)
    index = rng.integers(0, labels.size, size=(resamples, labels.size))
    values = metric_values(problem, metric, labels[index], predictions[index])
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class ModelQuality:
    labeled_rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    violations: tuple[dict, ...] = ()
    skipped: str = ""
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float = 0.95


def model_quality(
    bounds: Sequence[tuple[str, str, float]],
    metrics: dict[str, float],
    labeled: int,
    intervals: dict[str, tuple[float, float]],
    confidence: float,
) -> ModelQuality:
    """The served version's gate metrics on the window's labeled rows against their absolute
    bounds ((metric, "min" or "max", bound), the headline metric first): one violation per
    metric whose whole interval lies on the wrong side of its bound."""
    violations = []
    for metric, direction, bound in bounds:
        low, high = intervals[metric]
        if not (low > bound if direction == "min" else high < bound):
            continue
        check = "GreaterThanThreshold" if direction == "min" else "LessThanThreshold"
        description = (
            f"{metric} {metrics[metric]:.6g} on {labeled} labeled rows "
            f"({confidence:.0%} interval {low:.6g} to {high:.6g}) is wholly "
            f"{'above' if direction == 'min' else 'below'} the gate bound {bound:.6g}"
        )
        violations.append(
            {"metric_name": metric, "constraint_check_type": check, "description": description}
        )
    return ModelQuality(labeled, metrics, tuple(violations), "", dict(intervals), confidence)
