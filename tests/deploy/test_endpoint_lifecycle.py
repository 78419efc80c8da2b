"""Reconcile against endpoints that move through their states as on AWS (stack/endpoints.py):
creations and updates take time, may fail or roll back, and autoscaling constrains updates.

Sources (AWS documentation):
- API_DescribeEndpoint, EndpointStatus: Creating, Updating, SystemUpdating, RollingBack and
  Deleting are transitional; InService serves; Failed and OutOfService carry a FailureReason.
- API_UpdateEndpoint: an update sets Updating, then InService; RetainAllVariantProperties
  keeps "variant properties, such as the instance count"; the default is false.
- SageMaker developer guide, "Update endpoints that use auto scaling": an UpdateEndpoint that
  changes the instance type of a variant registered for auto scaling fails; "delete any
  scaling policies configured for it and deregister the variant as a scalable target", update,
  then register again.
- FACTS.md: an update that fails and rolls back leaves the endpoint InService on the OLD
  config with a FailureReason.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_reconcile import AUTOSCALING, SHA, World, add_model, isolate, live_scaling

from helpers import settle_endpoint
from mmeops.deploy.desired import load_desired
from mmeops.deploy.endpoint import EndpointOps
from mmeops.deploy.planner import EnsureEndpoint
from mmeops.errors import AwsError
from mmeops.images import xgboost_image
from mmeops.stack import endpoints

# The slow tier (make test-slow; CI runs it): endpoint lifecycle faults (failed creations,
# rolled-back updates, applies that find the endpoint updating).
pytestmark = pytest.mark.slow


@pytest.fixture
def world(stack, repo_copy: Path, monkeypatch) -> World:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    return World(repo_copy, isolate(repo_copy, "l"))


def _ops(world: World, **kwargs) -> EndpointOps:
    desired = load_desired(world.repo, "sandbox", SHA)
    return EndpointOps(world.env_aws("sandbox"), desired, **kwargs)


def _ensure(ops: EndpointOps) -> None:
    d = ops.desired
    ops.ensure(
        EnsureEndpoint(
            "(endpoint)", d.endpoint_name, d.image_version, d.instance_type, d.instance_count
        )
    )


def test_waiting_polls_soon_backs_off_and_keeps_its_deadline(world: World, monkeypatch) -> None:
    # The stack creates an endpoint in DELAY_SECONDS (0.1 s): a wait that starts with a short
    # poll sees it InService well within a second or two, not after a 15-second first sleep.
    ops = _ops(world)
    xgboost_image(ops.desired.region, ops.desired.image_version)  # its look-up is not the wait
    started = time.monotonic()
    _ensure(ops)
    assert time.monotonic() - started < 5
    status = world.env_aws("sandbox").call(
        "sagemaker", "describe_endpoint", EndpointName=world.env("sandbox").endpoint.name
    )
    assert status["EndpointStatus"] == "InService"

    # A creation slower than the deadline: the wait gives up at the deadline, naming the state.
    # The endpoint is deleted (as someone outside mmeops) and created again, slowly.
    e = world.env("sandbox")
    admin = world.admin(e.account_id)
    admin.call("sagemaker", "delete_endpoint", EndpointName=e.endpoint.name)
    assert settle_endpoint(admin, e.endpoint.name) is None
    monkeypatch.setattr(endpoints, "DELAY_SECONDS", 30.0)
    ops = _ops(world, timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(AwsError, match="still Creating after"):
        _ensure(ops)
    assert time.monotonic() - started < 5


def test_a_failed_creation_exits_1_with_sagemakers_failure_reason(world: World) -> None:
    m = f"m{world.uid}-f"
    add_model(world, m)
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    with endpoints.failing(create=endpoints.CREATE_FAILURE):
        out = world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert "did not pass the ping health check" in out
    assert "Traceback" not in out


def autoscaled(path: Path) -> None:
    """The environment file with autoscaling lines (1-4 instances at 700 invocations)."""
    path.write_text(
        path.read_text().replace("  instance_count: 1\n", "  instance_count: 1\n" + AUTOSCALING)
    )


def _live(world: World) -> tuple[dict, dict]:
    """The sandbox endpoint's description and the endpoint config it runs."""
    sm = world.env_aws("sandbox")
    ep = sm.call("sagemaker", "describe_endpoint", EndpointName=world.env("sandbox").endpoint.name)
    config = sm.call(
        "sagemaker", "describe_endpoint_config", EndpointConfigName=ep["EndpointConfigName"]
    )
    return ep, config


def test_an_instance_type_change_on_an_autoscaled_endpoint_deregisters_then_re_registers(
    world: World,
) -> None:
    m = f"m{world.uid}-a"
    add_model(world, m)
    path = world.root / "environments" / "sandbox.yaml"
    autoscaled(path)
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")

    path.write_text(path.read_text().replace("ml.m5.large", "ml.m5.xlarge"))
    world.mmeops("reconcile", "sandbox", "--apply")

    ep, config = _live(world)
    assert ep["EndpointStatus"] == "InService"
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    (target,), (policy,) = live_scaling(world)  # registered again, with its policy
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 700
    world.mmeops("reconcile", "sandbox", "--check")  # in sync


def test_an_update_sagemaker_rolls_back_ends_sync_failed_with_its_reason(world: World) -> None:
    m = f"m{world.uid}-b"
    add_model(world, m)
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    before, _ = _live(world)

    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("instance_count: 1", "instance_count: 2"))
    with endpoints.failing(update=endpoints.UPDATE_FAILURE):
        out = world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert "sync failed" in out
    assert "rolled back to its previous configuration" in out  # SageMaker's FailureReason

    after, config = _live(world)
    assert (after["EndpointStatus"], after["EndpointConfigName"]) == (
        "InService",
        before["EndpointConfigName"],
    )
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 1
    assert "was 1 x ml.m5.large" in world.mmeops("reconcile", "sandbox", "--check", code=3)
    world.mmeops("reconcile", "sandbox", "--apply")  # once the fault is gone, a re-run converges
    assert _live(world)[1]["ProductionVariants"][0]["InitialInstanceCount"] == 2


def _instances(world: World) -> int:
    return _live(world)[0]["ProductionVariants"][0]["CurrentInstanceCount"]


def test_a_stable_name_refresh_keeps_autoscaled_capacity_a_file_change_sets_it(
    world: World,
) -> None:
    m = f"m{world.uid}-c"
    add_model(world, m)
    v1, v2 = world.register(m, seed=1), world.register(m, seed=2)
    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("naming: versioned", "naming: stable"))
    autoscaled(path)
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    # Load arrives: Application Auto Scaling scales the variant out through this call.
    # (Application Auto Scaling acts with its own service-linked role: the stack's admin here.)
    world.admin(world.env("sandbox").account_id).call(
        "sagemaker",
        "update_endpoint_weights_and_capacities",
        EndpointName=world.env("sandbox").endpoint.name,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 3}],
    )
    assert _instances(world) == 3

    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")  # replaces m.tar.gz: refreshes the endpoint
    assert world.manifest("sandbox")["models"][m]["version"] == v2
    assert _instances(world) == 3  # not reset to the file's 1 under load

    path.write_text(path.read_text().replace("instance_count: 1", "instance_count: 2"))
    world.mmeops("reconcile", "sandbox", "--apply")
    assert _instances(world) == 2  # the file changed the count on purpose


def test_an_apply_that_finds_the_endpoint_updating_waits_before_its_own_update(
    world: World, monkeypatch
) -> None:
    """A re-run after a runner died mid-update finds the endpoint still Updating (minutes on
    AWS); SageMaker refuses an UpdateEndpoint then, so the apply waits for InService first."""
    m = f"m{world.uid}-u"
    add_model(world, m)
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    ep, config = _live(world)
    sm, name = world.env_aws("sandbox"), ep["EndpointName"]
    monkeypatch.setattr(endpoints, "DELAY_SECONDS", 1.0)
    other = f"{name}-by-hand"
    sm.call(
        "sagemaker",
        "create_endpoint_config",
        EndpointConfigName=other,
        ProductionVariants=config["ProductionVariants"],
    )
    sm.call("sagemaker", "update_endpoint", EndpointName=name, EndpointConfigName=other)

    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("instance_count: 1", "instance_count: 2"))
    world.mmeops("reconcile", "sandbox", "--apply")
    assert _live(world)[1]["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_a_failed_endpoint_is_drift_and_apply_replaces_it(world: World) -> None:
    """API_UpdateEndpoint / API_DescribeEndpoint: "DeleteEndpoint is the only operation that
    can be performed on a failed endpoint." `--check` reports it; one `--apply` deletes it and
    creates it again with the file's config, and the models are served."""
    m = f"m{world.uid}-r"
    add_model(world, m)
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    with endpoints.failing(create=endpoints.CREATE_FAILURE):
        world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert "is Failed" in world.mmeops("reconcile", "sandbox", "--check", code=3)
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("reconcile", "sandbox", "--check")
    ep, config = _live(world)
    assert ep["EndpointStatus"] == "InService" and "FailureReason" not in ep
    assert (
        config["ProductionVariants"][0]["InstanceType"]
        == world.env("sandbox").endpoint.instance_type
    )
    assert world.manifest("sandbox")["models"][m]["version"] >= 1
