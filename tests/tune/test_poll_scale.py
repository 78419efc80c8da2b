"""Issue 28: the product's waits for SageMaker jobs count SageMaker seconds. On AWS (nothing
exported) they are the designed 1 s doubling to 30 s (the SageMaker SDK polls every 5 s:
sagemaker/session.py `wait_for_tuning_job(job, poll=5)`); the embedded stack exports its time
scale, and the same waits shrink with its jobs, never below waiting.MIN_PAUSE."""

from __future__ import annotations

import pytest

from mmeops import waiting
from mmeops.tune import tuning_job


def _pauses(first: float, cap: float, polls: int) -> list[float]:
    """The pauses waiting.poll takes before the `polls`-th describe sees the job ended."""
    slept: list[float] = []
    answers = iter([None] * (polls - 1) + ["ended"])
    waiting.poll(
        lambda: next(answers),
        seconds=3600,
        first=first,
        cap=cap,
        late=lambda: AssertionError("late"),
        sleep=slept.append,
        clock=lambda: sum(slept),
    )
    return slept


def _tuning_pauses(polls: int) -> list[float]:
    return _pauses(
        waiting.sagemaker_seconds(tuning_job.FIRST_POLL_SECONDS),
        waiting.sagemaker_seconds(tuning_job.POLL_SECONDS),
        polls,
    )


def test_on_aws_a_tuning_job_is_polled_after_1_s_doubling_to_30_s(monkeypatch):
    monkeypatch.delenv(waiting.POLL_SCALE_ENV, raising=False)
    assert _tuning_pauses(8) == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize("raw", ["", "fast", "2", "-0.5", "nan", "inf"])
def test_a_malformed_or_out_of_range_scale_keeps_the_aws_pauses(monkeypatch, raw):
    monkeypatch.setenv(waiting.POLL_SCALE_ENV, raw)
    assert waiting.poll_scale() == 1.0
    assert _tuning_pauses(3) == [1, 2]


def test_a_scale_shrinks_the_pauses_but_never_below_the_floor(monkeypatch):
    monkeypatch.setenv(waiting.POLL_SCALE_ENV, "0.2")
    assert _tuning_pauses(6) == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])
    monkeypatch.setenv(waiting.POLL_SCALE_ENV, "0.05")  # 1 s scaled is 0.05 s: the floor
    assert _tuning_pauses(4) == pytest.approx([0.1, 0.2, 0.4])
    assert waiting.MIN_PAUSE == 0.1
    monkeypatch.setenv(waiting.POLL_SCALE_ENV, "0")
    assert _tuning_pauses(3) == [waiting.MIN_PAUSE] * 2


def test_the_stack_exports_its_time_scale_for_the_products_waits(stack):
    from mmeops.stack import training

    exported = stack.env[waiting.POLL_SCALE_ENV]
    assert float(exported) == training.time_scale()
    # At the default scale (0.0002) a tuning job of six small trainings ends within seconds;
    # it is polled every MIN_PAUSE, where AWS's schedule would look after 1, 3, 7 and 15 s.
    assert waiting.sagemaker_seconds(tuning_job.FIRST_POLL_SECONDS) == waiting.MIN_PAUSE
    assert waiting.sagemaker_seconds(tuning_job.POLL_SECONDS) == waiting.MIN_PAUSE
