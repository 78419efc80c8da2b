"""A pull request to environments/sandbox.yaml runs plan.yml through act: validation, the plans
of every environment the change can alter (read-only roles only), and ONE comment on the pull
request, updated in place by the next push."""

from __future__ import annotations

import pytest
from harness import pull_request
from harness.engine import REPOSITORY
from scenarios import scale


@pytest.fixture
def world(reading_world):
    """These scenarios only read AWS: they share the session's reading accounts."""
    return reading_world


MARKER = "<!-- mmeops-plan -->"


def _open_pull_request(world, count: int = 2):
    base = world.sha("main")
    head = world.commit(scale(world, "sandbox", count), "sandbox: more instances", branch="scale")
    return base, head


def _plan(world, base, head, **kw):
    return world.run(
        "plan.yml", "pull_request", pull_request(7, base, head, "scale"), sha=head, **kw
    )


def assert_read_only(run) -> None:
    """Plans run on a pull request branch: only the environments' reader roles, through the
    OIDC subject of the ENV-readonly environment (what the reader role trusts), never a
    deployer (docs/workflows.md, "Roles and trust policies")."""
    assumes = run.assumes()
    assert assumes, "the plan jobs assumed no role"
    for a in assumes:
        assert a["ok"] and a["aud"] == "sts.amazonaws.com", a
        assert a["role"].endswith(":role/mmeops-reader"), a
        assert a["sub"].rpartition(":environment:")[2].endswith("-readonly"), a


def test_a_sandbox_pull_request_is_planned_and_commented_with_read_only_roles(world):
    base, head = _open_pull_request(world)

    run = _plan(world, base, head)

    assert run.returncode == 0, run.failures()
    (comment,) = world.state()["comments"]
    body = comment["body"]
    assert comment["issue"] == 7 and body.startswith(MARKER)
    assert "### sandbox" in body and head[:12] in body
    assert_read_only(run)
    assert f"repo:{REPOSITORY}:environment:sandbox-readonly" in {a["sub"] for a in run.assumes()}
    assert run.jobs("validate")[0]["outputs"]["sandbox"] == "true"


def _deploy_environment_for_plans(engine):
    """Mutation: reconcile.yml's `environment:` no longer picks ENV-readonly for plans."""
    path = engine / ".github/workflows/reconcile.yml"
    text = path.read_text()
    old = (
        "inputs.mode == 'apply' && inputs.environment || format('{0}-readonly', inputs.environment)"
    )
    assert old in text
    path.write_text(text.replace(old, "inputs.environment"))


def test_mutation_plans_in_the_deploy_environment_are_caught(world):
    base, head = _open_pull_request(world)
    run = _plan(world, base, head, mutate=_deploy_environment_for_plans)
    with pytest.raises(AssertionError):
        assert_read_only(run)


@pytest.mark.slow
def test_the_next_push_updates_the_same_comment(world):
    base, head = _open_pull_request(world)
    _plan(world, base, head)
    head2 = world.commit(scale(world, "sandbox", 3), "sandbox: three", branch="scale")
    run = _plan(world, base, head2)
    assert run.returncode == 0, run.failures()
    (comment,) = world.state()["comments"]
    assert head2[:12] in comment["body"] and head[:12] not in comment["body"]
