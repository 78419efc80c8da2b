"""`mmeops canary`'s statistics on synthetic capture records: each check fails what it should,
passes what it should, and its false-alarm rate under the null is the stated 0.05."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmeops.monitor.canary import (
    FAIL,
    NOT_ENOUGH,
    PASS,
    compare,
    ks_critical,
    ks_distance,
    worse_error_rate,
)


def records(predictions, *, errors: int = 0, latency: float = 10.0, ids=None) -> list[dict]:
    out = []
    for i, p in enumerate(predictions):
        failed = i < errors
        out.append(
            {
                "captureData": {"endpointOutput": {"data": "" if failed else json.dumps([p])}},
                "eventMetadata": {"inferenceId": ids[i] if ids else f"r{i}"},
                "mmeops": {"status": 424 if failed else 200, "model_latency_ms": latency},
            }
        )
    return out


RNG = np.random.default_rng(7)


def verdicts(c) -> dict[str, str]:
    return {check.name: check.verdict for check in c.checks}


def test_a_canary_like_the_champion_passes_every_check() -> None:
    c = compare("canary", 8, 7, records(RNG.normal(size=400)), records(RNG.normal(size=400)), 100)
    assert verdicts(c) == {
        "error rate": PASS, "p99 latency": PASS, "prediction distribution": PASS
    } and c.verdict == PASS  # fmt: skip


@pytest.mark.parametrize(
    ("mine", "check"),
    [
        (records(RNG.normal(size=400), errors=30), "error rate"),
        (records(RNG.normal(size=400), latency=13.0), "p99 latency"),
        (records(RNG.normal(0.5, 1, size=400)), "prediction distribution"),
    ],
)
def test_each_check_fails_a_worse_canary(mine, check: str) -> None:
    c = compare("canary", 8, 7, mine, records(RNG.normal(size=400), errors=2), 100)
    assert verdicts(c)[check] == FAIL and c.verdict == FAIL


def test_too_few_requests_is_not_enough_data() -> None:
    c = compare("canary", 8, 7, records([1.0] * 99), records([1.0] * 500), 100)
    assert c.verdict == NOT_ENOUGH and "99 and 500 captured requests" in c.checks[0].detail


def test_a_shadow_reports_agreement_on_the_same_requests() -> None:
    ids = [f"q{i}" for i in range(200)]
    base = RNG.normal(size=200)
    c = compare("shadow", 9, 7, records(base * 1.01, ids=ids), records(base, ids=ids), 100)
    agreement = next(x for x in c.checks if x.name == "agreement")
    assert "100.0% of 200 paired rows within 5%" in agreement.detail


def test_false_alarms_under_the_null_stay_near_alpha() -> None:
    """Both tests at their critical values: about 5% of same-distribution pairs alarm (the KS
    asymptotic value is a little conservative at these sizes)."""
    rng = np.random.default_rng(11)
    trials = 400
    ks = sum(
        ks_distance(rng.normal(size=150), rng.normal(size=300)) > ks_critical(150, 300)
        for _ in range(trials)
    )
    errs = 0
    for _ in range(trials):
        a, b = rng.binomial(500, 0.05), rng.binomial(500, 0.05)
        errs += worse_error_rate(a, 500, b, 500) < 0.05
    assert ks / trials <= 0.08 and 0.02 <= errs / trials <= 0.08
