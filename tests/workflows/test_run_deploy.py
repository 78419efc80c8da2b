"""Merging runs deploy.yml through act: each environment whose file, models/ or mmeops.yaml
differ from what its last successful deployment applied (`actions/deployed`, read from the
fake gh's deployments) is reconciled on the embedded stack in order, sandbox -> qa -> prod,
each in its own GitHub environment with its deployer role; a later environment waits for the
earlier ones. Each scenario starts with every environment deployed at main's head."""

from __future__ import annotations

import pytest
from harness import push
from scenarios import all_deployed, deployments, endpoint, merge, scale

from mmeops.config.repo import load_repo


@pytest.fixture(autouse=True)
def _nothing_pending(world):
    all_deployed(world)


def _deploy(world, before: str, after: str, **kw):
    assert world.triggers("deploy.yml", "push", before, after), "deploy.yml did not trigger"
    return world.run("deploy.yml", "push", push(before, after), sha=after, **kw)


@pytest.mark.slow
def test_a_merge_deploys_sandbox_then_qa_then_prod_on_the_stack(world, stack):
    changes = {**scale(world, "sandbox", 2), **scale(world, "qa", 2), **scale(world, "prod", 2)}
    before, after = merge(world, changes, "all: two instances", "scale-all")

    run = _deploy(world, before, after)

    assert run.returncode == 0, run.failures()
    for env in ("sandbox", "qa", "prod"):
        assert endpoint(world, stack, env) == {"status": "InService", "instance_count": 2}, env
        assert deployments(world, env) == ["success"], env
    # In order: each apply job's deployment is recorded when it ends.
    order = [d["environment"] for d in world.state()["deployments"] if d["run_id"] == run.run_id]
    assert order == ["sandbox", "qa", "prod"]
    # Each apply ran with its environment's deployer role, through the subject of that
    # environment (what the deployer's trust policy names).
    subs = {a["sub"].rpartition(":environment:")[2]: a["role"] for a in run.assumes()}
    envs = load_repo(world.origin).envs
    assert subs == {env: envs[env].role_arn for env in ("sandbox", "qa", "prod")}
    assert all(a["role"].endswith(":role/mmeops-deployer") for a in run.assumes())


def _qa_only(world):
    return merge(world, scale(world, "qa", 3), "qa: three instances", "scale-qa")


def test_a_qa_only_change_deploys_qa_after_a_skipped_sandbox(world, stack):
    before, after = _qa_only(world)
    run = _deploy(world, before, after)
    assert run.returncode == 0, run.failures()
    assert endpoint(world, stack, "qa") == {"status": "InService", "instance_count": 3}
    assert endpoint(world, stack, "sandbox") is None  # nothing to do there: skipped
    assert deployments(world, "qa") == ["success"]


def _drop_not_cancelled(engine):
    """Mutation: qa's `if:` without `!cancelled()` (GitHub then skips qa whenever sandbox
    is skipped: a job whose needs were skipped runs only with a status function)."""
    path = engine / ".github/workflows/deploy.yml"
    text = path.read_text()
    qa = text.index("\n  qa:")
    head, tail = text[:qa], text[qa:]
    assert "${{ !cancelled() && " in tail
    path.write_text(head + tail.replace("${{ !cancelled() && ", "${{ ", 1))


def test_mutation_without_not_cancelled_qa_is_never_deployed(world, stack):
    """A test of the test above: the same scenario with the mutation fails it."""
    before, after = _qa_only(world)
    _deploy(world, before, after, mutate=_drop_not_cancelled)
    assert endpoint(world, stack, "qa") is None
    assert deployments(world, "qa") == []


@pytest.mark.slow
def test_a_qa_change_missed_by_a_failed_sandbox_is_applied_by_the_next_push(world, stack):
    changes = {**scale(world, "sandbox", 2), **scale(world, "qa", 2)}
    before, after = merge(world, changes, "sandbox and qa: two instances", "scale-both")
    good = world.environments["sandbox"]["vars"]["AWS_ACCOUNT_ID"]
    # sandbox's deploy fails (its credentials belong to another account than allowed)
    world.environments["sandbox"]["vars"]["AWS_ACCOUNT_ID"] = "999999999999"
    first = _deploy(world, before, after)
    assert first.returncode != 0
    assert deployments(world, "sandbox") == ["failure"] and deployments(world, "qa") == []
    world.environments["sandbox"]["vars"]["AWS_ACCOUNT_ID"] = good
    before2, after2 = merge(world, scale(world, "sandbox", 3), "sandbox: three", "scale-sb")
    second = _deploy(world, before2, after2)
    assert second.returncode == 0, second.failures()
    assert endpoint(world, stack, "sandbox")["instance_count"] == 3
    # qa's change from the first merge is applied now.
    assert endpoint(world, stack, "qa") == {"status": "InService", "instance_count": 2}


@pytest.mark.slow
def test_a_models_change_merged_is_applied(world, stack):
    model_yaml = "models/diabetes-progression/model.yaml"
    text = world.read(model_yaml)
    before, after = merge(world, {model_yaml: text + "\n# touched\n"}, "model: touch", "model")
    run = _deploy(world, before, after)
    assert run.returncode == 0, run.failures()
    # A model's files can change what every environment serves: each one is reconciled.
    for env in ("sandbox", "qa", "prod"):
        assert deployments(world, env) == ["success"], env


@pytest.mark.slow
def test_a_git_revert_rolls_the_endpoint_back(world, stack):
    before, after = merge(world, scale(world, "sandbox", 2), "sandbox: two", "scale-sb")
    assert _deploy(world, before, after).returncode == 0
    assert endpoint(world, stack, "sandbox")["instance_count"] == 2

    reverted = world.revert(after)
    run = _deploy(world, after, reverted)

    assert run.returncode == 0, run.failures()
    assert endpoint(world, stack, "sandbox") == {"status": "InService", "instance_count": 1}
    assert deployments(world, "sandbox") == ["success", "success"]
