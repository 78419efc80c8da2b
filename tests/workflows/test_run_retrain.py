"""retrain-scheduled.yml through act: `due` picks the models whose schedule fired in the window,
retrain.yml (a matrix of batches, each a matrix of models, in the GitHub environment
`training`) extracts from the warehouse, tunes on the runner (local backend, one training job)
and registers; the pull-request job pins every registered version in sandbox.yaml in one pull
request (a real branch and commit in origin, through the fake gh)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.slow

# breast-cancer's schedule is "0 4 * * *": a run created at 04:07 with the window from 03:00
# holds one firing of it and none of diabetes-progression's ("0 3 * * 1", a Monday; this is
# a Monday too, but 03:00 is the window's exclusive start).
RUN_AT = datetime(2026, 12, 7, 4, 7, tzinfo=timezone.utc)
INPUTS = {"models": "", "since": "2026-12-07T03:00:00Z", "testing": "true", "backend": "local"}


def _retrain(world, **kw):
    return world.run(
        "retrain-scheduled.yml", "workflow_dispatch", {}, inputs=INPUTS, created_at=RUN_AT, **kw
    )


def test_a_due_model_is_retrained_and_pinned_in_one_pull_request(world):
    run = _retrain(world)

    assert run.returncode == 0, run.failures()
    due = run.jobs("due")[0]["outputs"]
    assert due["models"] == '["breast-cancer"]'
    legs = run.jobs("retrain")
    assert [leg["matrix"] for leg in legs] == [{"model": "breast-cancer"}]
    assert legs[0]["environment"] == "training"
    (pr,) = world.state()["pulls"]
    assert pr["base"] == "main" and pr["title"].startswith("Promote breast-cancer v")
    version = pr["title"].split(" v")[1].split()[0]
    # The branch is a commit on main's head that pins the version, and only that.
    pinned = world.read("environments/sandbox.yaml", ref=pr["head"])
    assert "breast-cancer" in pinned and version in pinned
    assert world.changed("main", pr["head"]) == ["environments/sandbox.yaml"]
    # The training role, through the `training` environment's subject.
    subs = {a["sub"] for a in run.assumes()}
    assert subs == {"repo:acme/mmeops:environment:training"}


def _drop_secret(engine):
    """Mutation: the caller no longer passes MMEOPS_WAREHOUSE_DSN to retrain.yml (a called
    workflow sees only the secrets passed to it)."""
    path = engine / ".github/workflows/retrain-scheduled.yml"
    text = path.read_text()
    line = "    secrets:\n      MMEOPS_WAREHOUSE_DSN: ${{ secrets.MMEOPS_WAREHOUSE_DSN }}\n"
    assert line in text
    path.write_text(text.replace(line, ""))


def test_mutation_a_secret_dropped_from_the_workflow_call_fails_the_retrain(world):
    run = _retrain(world, mutate=_drop_secret)
    assert run.returncode != 0
    assert [leg["status"] for leg in run.jobs("retrain")] == ["failure"]
    assert world.state()["pulls"] == []
