"""monitor.yml through act: every environment is monitored (a matrix) in the GitHub
environment `monitor`, as the training account's monitor role (its subject is what that role
trusts); mmeops monitor reads each environment through its reader role. Nothing is served in
a fresh world: every leg runs clean and opens no issue. A monitor that cannot run opens one
"Monitoring failed in ENV" issue per environment (issue 24 item 1)."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from harness import schedule
from harness.engine import REPOSITORY

from mmeops.config.repo import load_repo
from mmeops.deploy.reconcile import reconcile
from mmeops.extract.run import extract
from mmeops.register.run import register
from mmeops.stack.iam import middleware
from mmeops.tune.run import tune
from monitor.served_model import TODAY, create_table, insert, model_files, rows


def _monitor(world):
    return world.run("monitor.yml", "schedule", schedule("41 5 * * *"))


@pytest.mark.slow
def test_monitor_runs_every_environment_with_the_monitor_role(reading_world):
    world = reading_world  # reads AWS alone: the shared accounts
    run = _monitor(world)

    assert run.returncode == 0, run.failures()
    legs = run.jobs("monitor")
    assert sorted(leg["matrix"]["environment"] for leg in legs) == ["prod", "qa", "sandbox"]
    assert {leg["environment"] for leg in legs} == {"monitor"}
    assert all(leg["status"] == "success" for leg in legs)
    assert {(a["role"], a["sub"]) for a in run.assumes()} == {
        ("arn:aws:iam::111111111111:role/mmeops-monitor", f"repo:{REPOSITORY}:environment:monitor")
    }
    assert world.state()["issues"] == []


def _monitor_role_elsewhere(world):
    """The monitor environment's role is prod's reader, in another account than the training
    account monitor must read (the registry, baselines, monitoring/): the stack's IAM refuses
    the monitor environment's token for it (the reader's trust names prod-readonly), and
    allowed-account-ids would refuse its credentials anyway."""
    world.environments["monitor"]["vars"]["AWS_ROLE_ARN"] = (
        "arn:aws:iam::444444444444:role/mmeops-reader"
    )


def test_a_monitor_that_cannot_run_opens_one_issue_per_environment(reading_world):
    """Issue 24 item 1: the issue step runs `if: failure()`. The same scenario is the mutation
    "monitor under a role that cannot reach what it needs": every leg fails."""
    world = reading_world  # reads AWS alone: the shared accounts
    _monitor_role_elsewhere(world)
    with middleware.expecting() as refused:
        run = _monitor(world)

    # Each leg's web-identity call is refused by the reader's trust.
    assert [(d.action, d.resource) for d in refused.denied] == [
        ("sts:AssumeRoleWithWebIdentity", "arn:aws:iam::444444444444:role/mmeops-reader")
    ] * 3
    assert run.returncode != 0
    assert [leg["status"] for leg in run.jobs("monitor")] == ["failure"] * 3
    titles = sorted(i["title"] for i in world.state()["issues"] if i["state"] == "open")
    assert titles == [f"Monitoring failed in {env}" for env in ("prod", "qa", "sandbox")]

    # The next run that works closes them.
    world.environments["monitor"]["vars"]["AWS_ROLE_ARN"] = (
        "arn:aws:iam::111111111111:role/mmeops-monitor"
    )
    again = _monitor(world)
    assert again.returncode == 0, again.failures()
    assert [i for i in world.state()["issues"] if i["state"] == "open"] == []


# --- one model drifting: its own issue, updated by the next run (issue 24 item 2) ------------


@pytest.fixture
def drifting(world, stack) -> str:
    """A regression model on its own warehouse table, trained on rows up to 10 days ago
    (extract, tune, register in the test, as retrain.yml would), pinned in sandbox and
    applied there (committed to origin), then 400 rows of yesterday with x1 one standard
    deviation up and no labels yet: data drift in monitor's 7-day window. Returns its name."""
    uid = uuid.uuid4().hex[:6]
    name, table = f"wfmon-{uid}", f"public.wfmon_{uid}"
    create_table(stack.dsn, table)
    trained_until = TODAY - dt.timedelta(days=10)
    span = (trained_until - dt.date(2025, 1, 3)).days
    insert(stack.dsn, table, rows(1500, seed=1, day=dt.date(2025, 1, 1), span_days=span))

    files = model_files(world.read("models/diabetes-progression/model.yaml"), name, table)
    world.commit({f"models/{name}/{f}": text for f, text in files.items()}, f"add {name}")
    repo = load_repo(world.origin)
    extract(repo, name, end=trained_until)
    tune(repo, name)
    assert register(repo, name).version == 1
    sandbox = world.read("environments/sandbox.yaml")
    pinned = sandbox.replace("models: {}", f"models:\n  {name}: 1")
    assert pinned != sandbox
    world.commit({"environments/sandbox.yaml": pinned}, f"pin {name}")
    report = reconcile(load_repo(world.origin), "sandbox", "apply", poll_seconds=0.1)
    assert not report.failed, report.summary()

    drifted = rows(400, seed=3, day=TODAY - dt.timedelta(days=1))
    drifted["x1"] = drifted["x1"] + 2  # one standard deviation
    drifted["y"] = np.full(400, np.nan)  # labels have not arrived
    insert(stack.dsn, table, drifted)
    return name


@pytest.mark.slow
def test_a_drifting_model_gets_one_issue_updated_by_the_next_run(world, drifting):
    """The run opens "Data drift: MODEL in sandbox" with that model's report alone (the fake
    gh refuses a body over 65,536 characters, as GitHub does); the next run edits the same
    issue instead of opening another. The environments with nothing served stay quiet."""
    first = _monitor(world)
    # Drift is the run's verdict, not its failure: every leg succeeds.
    assert first.returncode == 0, first.failures()
    title = f"Data drift: {drifting} in sandbox"
    issues = world.state()["issues"]
    assert [(i["title"], i["state"]) for i in issues] == [(title, "open")]
    body = issues[0]["body"]
    assert drifting in body and "x1" in body and len(body) <= 65_536
    assert "Found by [this run]" in body

    again = _monitor(world)
    assert again.returncode == 0, again.failures()
    issues = world.state()["issues"]
    assert [(i["title"], i["state"]) for i in issues] == [(title, "open")]
    calls = [c["argv"][:2] for c in world.gh_calls() if c["outcome"] == "ok"]
    assert calls.count(["issue", "create"]) == 1
    assert calls.count(["issue", "edit"]) == 1
