"""One data-drift issue per model carries that model's report alone, within GitHub's limit.

GitHub refuses an issue body over 65,536 characters (REST API "Create an issue": `body`; the
same limit FACTS.md records for comments). The environment's whole report passed it at about
80 models (issue 24, item 2): each model's issue now gets its own section only.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mmeops.extract.run import Window
from mmeops.monitor import report
from mmeops.monitor.checks import DataQuality, FeatureResult
from mmeops.monitor.quality import ModelQuality
from mmeops.monitor.run import OK, VIOLATED, ModelRun, MonitorRun

# The workflow appends one line (the run's link, under 200 characters) to each body.
APPENDED = 200


def _violation(feature: str) -> dict:
    return {
        "feature_name": feature,
        "constraint_check_type": "baseline_drift_check",
        "description": f"Baseline drift distance: 0.4312 exceeds threshold: 0.1 for {feature}",
    }


def _model(i: int, features: int = 12) -> ModelRun:
    names = [f"feature_{k:03d}" for k in range(features)]
    drifted = tuple(FeatureResult(n, 0.4312, 0.1, (_violation(n),)) for n in names)
    return ModelRun(
        model=f"model-{i:04d}",
        status=VIOLATED,
        version=3,
        window=Window(dt.date(2026, 11, 1), dt.date(2026, 12, 1)),
        data=DataQuality(1000, drifted, tuple(v for f in drifted for v in f.violations)),
        quality=ModelQuality(200, {"validation:auc": 0.91}),
        violations_uri=f"s3://training/monitoring/model-{i:04d}/run/constraint_violations.json",
    )


def _run(count: int, features: int = 12) -> MonitorRun:
    history = {
        f"model-{i:04d}": [{"run_id": f"r{d:07d}", "drift_score": d / 10} for d in range(25)]
        for i in range(count)
    }
    models = [_model(i, features) for i in range(count)]
    return MonitorRun("prod", "20261206T054100Z", "2026-12-06T05:41:00Z", models, history)


@pytest.mark.parametrize("count", [1, 200, 2000])
def test_each_models_issue_holds_its_own_report_within_the_limit(count):
    run = _run(count)
    whole = report.markdown(run)
    bodies = {m.model: report.issue_body(run, m) for m in run.models}
    assert len(bodies) == count
    for name, body in bodies.items():
        assert len(body) + APPENDED <= report.ISSUE_LIMIT
        assert name in body and "feature_011" in body  # the model's own detail
        others = [m for m in ("model-0000", "model-0001") if m != name and m in bodies]
        assert not any(f"### ❌ {o} " in body for o in others)  # never another model's
    if count >= 200:
        # The defect: every issue got `whole`, far over the limit at 200 models.
        assert len(whole) > report.ISSUE_LIMIT
    print(
        f"{count} models: whole report {len(whole)} chars, largest issue body "
        f"{max(map(len, bodies.values()))} chars"
    )


def test_a_model_with_thousands_of_drifted_features_is_cut_at_whole_lines():
    run = _run(1, features=5000)
    (model,) = run.models
    full = report.issue_body(run, model, limit=10**9)
    body = report.issue_body(run, model)
    assert len(full) > report.ISSUE_LIMIT
    assert len(body) <= report.ISSUE_BODY_MAX
    assert body.endswith("job summary and violations file.\n")
    kept = body.split("\n⚠️")[0]
    assert all(line in full.splitlines() or line == "</details>" for line in kept.splitlines())
    assert body.count("<details>") == body.count("</details>")


def test_a_clean_model_still_has_a_body_of_its_own():
    run = _run(2)
    clean = ModelRun("model-0001", OK, 3)
    assert report.issue_body(run, clean).startswith("## Monitoring prod: ✅ model-0001")
