"""monitor.yml through act: every environment is monitored (a matrix) in the GitHub
environment `monitor`, as the training account's monitor role (its subject is what that role
trusts); mmeops monitor reads each environment through its reader role. Nothing is served in
a fresh world: every leg runs clean and opens no issue. A monitor that cannot run opens one
"Monitoring failed in ENV" issue per environment (issue 24 item 1)."""

from __future__ import annotations

import pytest
from harness import schedule
from harness.engine import REPOSITORY

pytestmark = pytest.mark.slow


def _monitor(world):
    return world.run("monitor.yml", "schedule", schedule("41 5 * * *"))


def test_monitor_runs_every_environment_with_the_monitor_role(world):
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


def test_a_monitor_that_cannot_run_opens_one_issue_per_environment(world):
    """Issue 24 item 1: the issue step runs `if: failure()`. The same scenario is the mutation
    "monitor under a role that cannot reach what it needs": every leg fails."""
    _monitor_role_elsewhere(world)
    run = _monitor(world)

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
