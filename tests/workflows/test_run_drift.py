"""drift.yml through act after a deploy: each environment is checked, read-only, against the
file its last successful deployment applied (GitHub's deployments, recorded by the harness);
drift opens the issue "Drift in ENV", a clean check closes it."""

from __future__ import annotations

import pytest
from harness import push, schedule
from scenarios import all_deployed, merge, scale

from mmeops.config.repo import load_repo
from mmeops.stack.mme import AccountRef

pytestmark = pytest.mark.slow


def _open_drift_issues(world) -> set[str]:
    return {i["title"] for i in world.state()["issues"] if i["state"] == "open"}


def test_drift_opens_an_issue_per_drifted_environment_and_none_for_a_clean_one(world, stack):
    # GitHub says every environment applied main's head; only sandbox's change is deployed.
    all_deployed(world)
    before, after = merge(world, scale(world, "sandbox", 2), "sandbox: two", "scale-sb")
    assert world.run("deploy.yml", "push", push(before, after), sha=after).returncode == 0

    run = world.run("drift.yml", "schedule", schedule("23 */3 * * *"))

    # sandbox matches what it deployed; qa's and prod's deployments say they serve main's
    # first commit, but their endpoints are missing, which is drift.
    assert run.returncode == 0, run.failures()
    assert _open_drift_issues(world) == {"Drift in qa", "Drift in prod"}
    assert {a["sub"].rpartition(":")[2] for a in run.assumes()} == {
        "sandbox-readonly",
        "qa-readonly",
        "prod-readonly",
    }

    # Someone deletes the sandbox endpoint by hand: the next check opens its issue.
    e = load_repo(world.origin).envs["sandbox"]
    aws = stack.aws_for(AccountRef(e.account_id, e.region, e.role_arn))
    aws.call("sagemaker", "delete_endpoint", EndpointName=e.endpoint.name)
    world.run("drift.yml", "schedule", schedule("23 */3 * * *"))
    assert "Drift in sandbox" in _open_drift_issues(world)
