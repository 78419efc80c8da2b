"""Warm-start parent selection: which earlier tuning jobs today's job may learn from.

Pure: the history is a list of records, today's job a `Today`; no AWS.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mmeops.tune.history import TuningRecord
from mmeops.tune.warmstart import IDENTICAL, TRANSFER, Today, choose

RANGES = {
    "eta": {"type": "continuous", "min": 0.01, "max": 0.3, "scaling": "Logarithmic"},
    "max_depth": {"type": "integer", "min": 2, "max": 6},
}
STATIC = {"objective": "reg:squarederror", "num_round": 300, "early_stopping_rounds": 20}
TODAY = Today(
    model="diabetes-progression",
    objective="reg:squarederror",
    eval_metric="validation:rmse",
    ranges=RANGES,
    static_hyperparameters=STATIC,
    dataset_sha256="sha-today",
    image_version="3.2-0",
    backend="local",
    max_parents=5,
)
TRIALS = [
    {"hyperparameters": {"eta": 0.1, "max_depth": 3}, "value": 55.0},
    {"hyperparameters": {"eta": 0.2, "max_depth": 4}, "value": 57.0},
]


def job(name: str, day: int, **changes) -> TuningRecord:
    base = TuningRecord(
        time=f"2026-11-{day:02d}T03:00:00Z",
        job_name=name,
        model="diabetes-progression",
        prefix="diabetes-progr",
        objective="reg:squarederror",
        eval_metric="validation:rmse",
        best_value=55.0,
        n_training_jobs=12,
        dataset_run_id=f"run-{day}",
        dataset_sha256="sha-older",
        backend="local",
        testing=False,
        status="Completed",
        ranges=RANGES,
        static_hyperparameters=STATIC,
        image_version="3.2-0",
        trials=TRIALS,
        best_hyperparameters=TRIALS[0]["hyperparameters"],
    )
    return replace(base, **changes)


def ranges_with(**changed) -> dict:
    return {**RANGES, **changed}


def static_with_changes(n: int, offset: int = 0) -> dict:
    return {**STATIC, **{f"extra_{i}": i + offset for i in range(n)}}


CASES = [
    # (id, history, today's changes, expected type, expected parents, reason contains)
    ("no history", [], {}, None, [], "no earlier tuning job of diabetes-progression"),
    (
        "testing runs never parent",
        [job("t1", 1, testing=True, n_training_jobs=1)],
        {},
        None,
        [],
        "t1: a testing run",
    ),
    (
        "one training job counts as testing",
        [job("t1", 1, n_training_jobs=1)],
        {},
        None,
        [],
        "testing run",
    ),
    (
        "other models ignored",
        [job("other", 1, model="breast-cancer")],
        {},
        None,
        [],
        "no earlier tuning job",
    ),
    (
        "other objective",
        [job("o1", 1, objective="reg:absoluteerror")],
        {},
        None,
        [],
        "o1: objective",
    ),
    (
        "other eval metric",
        [job("m1", 1, eval_metric="validation:mae")],
        {},
        None,
        [],
        "validation:mae",
    ),
    (
        "failed jobs never parent",
        [job("f1", 1, status="Failed")],
        {},
        None,
        [],
        "f1: status Failed",
    ),
    (
        "a new tuned hyperparameter is incompatible",
        [job("r1", 1)],
        {"ranges": ranges_with(gamma={"type": "continuous", "min": 0, "max": 5})},
        None,
        [],
        "added gamma",
    ),
    (
        "a removed tuned hyperparameter is incompatible",
        [job("r1", 1, ranges=ranges_with(gamma={"type": "continuous", "min": 0, "max": 5}))],
        {},
        None,
        [],
        "removed gamma",
    ),
    (
        "a changed type is incompatible",
        [job("r1", 1)],
        {"ranges": ranges_with(max_depth={"type": "continuous", "min": 2, "max": 6})},
        None,
        [],
        "max_depth changed type from integer to continuous",
    ),
    (
        "new bounds and scaling are compatible",
        [job("r1", 1)],
        {"ranges": ranges_with(eta={"type": "continuous", "min": 0.05, "max": 0.5})},
        TRANSFER,
        ["r1"],
        "r1",
    ),
    (
        "ten static value changes are allowed",
        [job("s1", 1, static_hyperparameters=static_with_changes(10))],
        {"static_hyperparameters": static_with_changes(10, offset=100)},
        TRANSFER,
        ["s1"],
        "s1",
    ),
    (
        "eleven static value changes are not",
        [job("s1", 1, static_hyperparameters=static_with_changes(11))],
        {"static_hyperparameters": static_with_changes(11, offset=100)},
        None,
        [],
        "11 static hyperparameters changed",
    ),
    # AWS: "the static plus tunable hyperparameters must be the same as in the parent"
    # (FACTS.md, both warm-start types): a name added, removed or renamed refuses the parent.
    (
        "an added static hyperparameter makes the parent incompatible",
        [job("s1", 1)],
        {"static_hyperparameters": static_with_changes(1)},
        None,
        [],
        "static hyperparameters differ (added extra_0)",
    ),
    (
        "a renamed static hyperparameter makes the parent incompatible",
        [job("s1", 1, static_hyperparameters={**STATIC, "gamma": 1})],
        {"static_hyperparameters": {**STATIC, "lambda": 1}},
        None,
        [],
        "static hyperparameters differ (added lambda; removed gamma)",
    ),
    (
        "a number and its string are the same static value",
        [job("s1", 1, static_hyperparameters={**STATIC, "num_round": "300"})],
        {},
        TRANSFER,
        ["s1"],
        "s1",
    ),
    (
        "same dataset: identical data and algorithm",
        [job("d1", 1, dataset_sha256="sha-today")],
        {},
        IDENTICAL,
        ["d1"],
        "same dataset",
    ),
    (
        "changed dataset: transfer learning",
        [job("d1", 1)],
        {},
        TRANSFER,
        ["d1"],
        "dataset or image changed",
    ),
    (
        "one parent on other data makes the whole start transfer learning",
        [job("d1", 1), job("d2", 2, dataset_sha256="sha-today")],
        {},
        TRANSFER,
        ["d2", "d1"],
        "",
    ),
    (
        "another serving image: transfer learning",
        [job("i1", 1, dataset_sha256="sha-today", image_version="3.0-5")],
        {},
        TRANSFER,
        ["i1"],
        "",
    ),
    (
        "newest first, at most five",
        [job(f"j{d}", d) for d in range(1, 9)],
        {},
        TRANSFER,
        ["j8", "j7", "j6", "j5", "j4"],
        "",
    ),
    (
        "max_parents caps the count",
        [job(f"j{d}", d) for d in range(1, 9)],
        {"max_parents": 2},
        TRANSFER,
        ["j8", "j7"],
        "",
    ),
    (
        "max_parents above five is still five",
        [job(f"j{d}", d) for d in range(1, 9)],
        {"max_parents": 9},
        TRANSFER,
        ["j8", "j7", "j6", "j5", "j4"],
        "",
    ),
    (
        "max_parents zero: cold start",
        [job("j1", 1)],
        {"max_parents": 0},
        None,
        [],
        "max_parents is 0",
    ),
    (
        "ordering is by time, not by position in the file",
        [job("late", 9), job("early", 2)],
        {},
        TRANSFER,
        ["late", "early"],
        "",
    ),
    (
        "ineligible jobs are skipped, eligible older ones used",
        [job("old", 1), job("fail", 2, status="Failed"), job("test", 3, testing=True)],
        {},
        TRANSFER,
        ["old"],
        "old",
    ),
    (
        "cold-start reason names the newest refusal",
        [job("f1", 1, status="Failed"), job("t2", 2, testing=True)],
        {},
        None,
        [],
        "none of 2 earlier tuning jobs is eligible (newest, t2: a testing run",
    ),
    (
        "local needs recorded trials",
        [job("nt", 1, trials=[])],
        {},
        None,
        [],
        "nt: no recorded trials",
    ),
    (
        "sagemaker parents only from sagemaker",
        [job("loc", 1)],
        {"backend": "sagemaker"},
        None,
        [],
        "SageMaker warm-starts only",
    ),
    (
        "sagemaker parent for a sagemaker job",
        [job("sm", 1, backend="sagemaker", trials=[])],
        {"backend": "sagemaker"},
        TRANSFER,
        ["sm"],
        "",
    ),
]


@pytest.mark.parametrize(
    ("history", "today", "kind", "parents", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_parent_selection(history, today, kind, parents, reason):
    plan = choose(history, replace(TODAY, **today))
    assert plan.type == kind
    assert plan.parent_names == parents
    assert plan.cold == (kind is None)
    assert reason in plan.reason
    assert "\n" not in plan.reason
    assert plan.reason.startswith("cold start: " if kind is None else f"warm start {kind}")
