"""How a parent's trials enter the local backend's search (tune/local.py): which of them are
evaluated first, and on which scale the rest become priors. benchmarks/warm_start.py measures
what this buys on a suite of problems."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from mmeops.tune.local import (
    ENQUEUE,
    WARM_MARGIN,
    distribution,
    narrowed,
    study,
    warm_inputs,
)

RANGES = {
    "eta": {"type": "continuous", "min": 0.05, "max": 0.3},
    "max_depth": {"type": "integer", "min": 2, "max": 4},
}
STATIC = {"objective": "reg:squarederror", "num_round": 20}


@dataclass
class Parent:
    trials: list = field(default_factory=list)
    best_hyperparameters: dict = field(default_factory=dict)


def trial(eta: float, depth: int, value: float) -> dict:
    return {"hyperparameters": {"eta": eta, "max_depth": depth}, "value": value}


def data(seed: int, n: int = 300) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = x[:, 0] * 3 + np.sin(x[:, 1]) + rng.normal(scale=0.3, size=n)
    return (x[:200], y[:200]), (x[200:], y[200:])


def test_the_newest_parents_best_goes_first_then_the_next_best_distinct_ones() -> None:
    newest = Parent([trial(0.1, 2, 5.0), trial(0.2, 3, 4.0)], {"eta": 0.2, "max_depth": 3})
    older = Parent(
        [trial(0.3, 4, 3.0), trial(0.2, 3, 4.0), trial(0.05, 2, 9.0)]
        + [trial(0.06 + i / 100, 2, 10.0 + i) for i in range(ENQUEUE)]
    )
    priors, enqueue = warm_inputs([newest, older])
    assert len(priors) == 5 + ENQUEUE
    assert enqueue[:4] == [
        {"eta": 0.2, "max_depth": 3},  # the newest parent's best, even when another is lower
        {"eta": 0.3, "max_depth": 4},
        {"eta": 0.1, "max_depth": 2},  # (0.2, 3) again is skipped: distinct configurations
        {"eta": 0.05, "max_depth": 2},
    ]
    assert len(enqueue) == ENQUEUE
    _, up = warm_inputs([newest, older], maximize=True)
    assert up[1]["eta"] == 0.06 + (ENQUEUE - 1) / 100  # the highest value when higher is better
    assert warm_inputs([]) == ([], [])


def test_priors_enter_on_todays_scale_measured_on_the_configuration_evaluated_again() -> None:
    """A parent scored on other data: its values are off today's by some factor. The prior for
    the configuration evaluated first is recorded with today's value exactly (the factor is
    today's over the parent's), and every other prior moves by the same factor."""
    common = {"ranges": RANGES, "static": STATIC, "objective_metric": "validation:rmse"}
    parent = study(*data(1), direction="Minimize", n_trials=6, seed=3, **common)
    inflated = [{**t, "value": t["value"] * 0.5} for t in parent.trials]  # half today's scale
    first = parent.best_hyperparameters
    result = study(
        *data(2),
        direction="Minimize",
        n_trials=3,
        seed=0,
        priors=inflated,
        enqueue=[first],
        **common,
    )
    today = result.trials[0]
    assert today["hyperparameters"] == first
    priors = [t for t in result.study.trials if t.user_attrs.get("prior")]
    assert 1 <= len(priors) == result.n_prior <= 6  # those inside the narrowed space
    again = next(t for t in priors if t.params == first)
    assert again.value == pytest.approx(today["value"])
    factor = today["value"] / next(t["value"] for t in inflated if t["hyperparameters"] == first)
    was = {tuple(sorted(t["hyperparameters"].items())): t["value"] for t in inflated}
    for p in priors:
        assert p.value == pytest.approx(was[tuple(sorted(p.params.items()))] * factor)


def test_a_warm_search_samples_around_the_parents_best_configurations() -> None:
    """The parents' best quarter (at least ENQUEUE) spans eta 0.1 to 0.12 and depth 3: today's
    trials stay within that box widened by WARM_MARGIN of each range, priors outside it drop
    out; without priors the whole range is searched."""
    good = [trial(0.1 + i / 200, 3, 1.0 + i / 10) for i in range(ENQUEUE)]
    bad = [trial(0.05 + i / 100, 2 + i % 3, 5.0 + i) for i in range(15)]
    space = {n: distribution(r) for n, r in RANGES.items()}
    usable = [(t["hyperparameters"], t["value"]) for t in good + bad]
    box = narrowed(space, usable, maximize=False)
    margin = (0.3 - 0.05) * WARM_MARGIN
    assert box["eta"].low == pytest.approx(0.1 - margin)
    assert box["eta"].high == pytest.approx(0.1 + (ENQUEUE - 1) / 200 + margin)
    assert (box["max_depth"].low, box["max_depth"].high) == (2, 4)  # 3 +- 0.2 of 2..4
    assert narrowed(space, [], maximize=False) == space
    common = {"ranges": RANGES, "static": STATIC, "objective_metric": "validation:rmse"}
    warm = {"priors": good + bad, "enqueue": [good[0]["hyperparameters"]]}
    result = study(*data(2), direction="Minimize", n_trials=8, seed=0, **warm, **common)
    assert all(box["eta"].low <= t["hyperparameters"]["eta"] <= box["eta"].high
               for t in result.trials)  # fmt: skip
    assert result.n_prior == sum(
        box["eta"].low <= t["hyperparameters"]["eta"] <= box["eta"].high for t in good + bad
    )
