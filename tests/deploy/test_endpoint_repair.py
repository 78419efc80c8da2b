"""Issue 19, item 4: an endpoint changed out of band is drift `--check` names, and one
`--apply` repairs: repointed to a model that loads another prefix, or with its model deleted.
(A `Failed` endpoint needs the stateful endpoint emulation of the "faithful AWS" work.)"""

from __future__ import annotations

import pytest
from test_reconcile import World, deploy_one, world  # noqa: F401

from helpers import settle_endpoint
from mmeops.images import xgboost_image

# The slow tier (make test-slow; CI runs it):
# fault scenarios: endpoints broken under the product, repaired by apply.
pytestmark = pytest.mark.slow


def served_prefix(world: World) -> str:  # noqa: F811
    """Where the sandbox endpoint's model loads artifacts from, read from SageMaker."""
    e = world.env("sandbox")
    sm = world.env_aws("sandbox")
    ep = sm.call("sagemaker", "describe_endpoint", EndpointName=e.endpoint.name)
    config = sm.call(
        "sagemaker", "describe_endpoint_config", EndpointConfigName=ep["EndpointConfigName"]
    )
    model = config["ProductionVariants"][0]["ModelName"]
    return sm.call("sagemaker", "describe_model", ModelName=model)["PrimaryContainer"][
        "ModelDataUrl"
    ]


def drift_then_repaired(world: World, model: str, drift: str) -> None:  # noqa: F811
    """`--check` names the drift; one `--apply` repairs it: in sync, this prefix, serving."""
    out = world.mmeops("reconcile", "sandbox", "--check", code=3)
    assert drift in out, out
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("reconcile", "sandbox", "--check")
    assert served_prefix(world) == world.env("sandbox").artifact_prefix
    assert world.invoke("sandbox", model).strip()


def test_an_endpoint_repointed_to_another_prefix_is_drift_and_apply_repairs_it(
    world: World,  # noqa: F811 (the fixture imported above)
) -> None:
    m, _ = deploy_one(world, "rp")
    e = world.env("sandbox")
    sm = world.admin(e.account_id)  # someone outside mmeops, with more power than the deployer
    # Someone points the endpoint at a model of their own that loads another prefix.
    rogue = f"{e.endpoint.name}-rogue"
    elsewhere = f"s3://{e.artifact_bucket}/elsewhere-{world.uid}/"
    sm.call(
        "sagemaker",
        "create_model",
        ModelName=rogue,
        ExecutionRoleArn=f"arn:aws:iam::{e.account_id}:role/someone",
        PrimaryContainer={
            "Image": xgboost_image(e.region, "3.2-0"),
            "ModelDataUrl": elsewhere,
            "Mode": "MultiModel",
        },
    )
    sm.call(
        "sagemaker",
        "create_endpoint_config",
        EndpointConfigName=f"{e.endpoint.name}-rogue",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": rogue,
                "InstanceType": e.endpoint.instance_type,
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.call(
        "sagemaker",
        "update_endpoint",
        EndpointName=e.endpoint.name,
        EndpointConfigName=f"{e.endpoint.name}-rogue",
    )
    settle_endpoint(sm, e.endpoint.name)  # Updating → InService on the rogue config
    assert served_prefix(world) == elsewhere

    drift_then_repaired(world, m, f"its model {rogue} loads {elsewhere}, not {e.artifact_prefix}")


def test_an_endpoint_whose_model_was_deleted_is_drift_and_apply_recreates_it(
    world: World,  # noqa: F811
) -> None:
    m, _ = deploy_one(world, "dm")
    e = world.env("sandbox")
    sm = world.admin(e.account_id)  # someone outside mmeops deletes the endpoint's model
    model = f"{e.endpoint.name}-mme"
    sm.call("sagemaker", "delete_model", ModelName=model)

    drift_then_repaired(world, m, f"its model {model} was deleted")


def test_a_repair_that_changes_the_instance_type_of_an_autoscaled_endpoint_deregisters_first(
    world: World,  # noqa: F811
) -> None:
    """SageMaker developer guide, "Update endpoints that use auto scaling": an UpdateEndpoint
    that changes the instance type of a variant registered as a scalable target fails until
    its policies are deleted and the target deregistered (the stack refuses it so:
    tests/stack/test_endpoints.py). A repair is such an update when the file's instance type
    changed meanwhile."""
    from test_endpoint_lifecycle import autoscaled
    from test_reconcile import live_scaling

    path = world.root / "environments" / "sandbox.yaml"
    autoscaled(path)
    m, _ = deploy_one(world, "ra")
    e = world.env("sandbox")
    world.admin(e.account_id).call("sagemaker", "delete_model", ModelName=f"{e.endpoint.name}-mme")
    path.write_text(path.read_text().replace("ml.m5.large", "ml.m5.xlarge"))

    drift_then_repaired(world, m, f"its model {e.endpoint.name}-mme was deleted")
    sm = world.env_aws("sandbox")
    ep = sm.call("sagemaker", "describe_endpoint", EndpointName=e.endpoint.name)
    config = sm.call(
        "sagemaker", "describe_endpoint_config", EndpointConfigName=ep["EndpointConfigName"]
    )
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    (target,), (policy,) = live_scaling(world)  # registered again, with its policy
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
