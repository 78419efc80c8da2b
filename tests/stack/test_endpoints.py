"""SageMaker endpoint lifecycles on the embedded stack, as AWS documents them.

Sources:
- API_CreateEndpoint: "SageMaker sets the endpoint status to Creating. After it creates the
  endpoint, it sets the status to InService"; a failed creation is `Failed` with FailureReason.
- API_UpdateEndpoint: "When SageMaker receives the request, it sets the endpoint status to
  Updating. After updating the endpoint, it sets the status to InService"; "To update an
  endpoint, you must create a new EndpointConfig"; "You must not delete an EndpointConfig in
  use by an endpoint that is live or while the UpdateEndpoint or CreateEndpoint operations are
  being performed"; RetainAllVariantProperties / ExcludeRetainedVariantProperties.
- API_DescribeEndpoint (EndpointStatus): `Failed`: "DeleteEndpoint is the only operation that
  can be performed on a failed endpoint"; FailureReason.
- "Update endpoints that use auto scaling" (SageMaker developer guide): "If the update would
  change the instance type for any model that is a target for auto scaling, the update fails"
  ... "There is one exception. If you change the model for a variant ... allows the update."
- API_DeleteEndpoint: the endpoint is `Deleting` until its resources are gone.
"""

from __future__ import annotations

import uuid

import pytest

from helpers import settle_endpoint
from mmeops import aws
from mmeops.config.repo import load_repo
from mmeops.errors import AwsError, NotFound
from mmeops.stack import endpoints
from mmeops.stack.embedded import EmbeddedStack
from mmeops.stack.moto_server import add_endpoint_update_listener

VARIANT = "AllTraffic"


# The slow tier (make test-slow; CI runs it): the stack's endpoint lifecycles against AWS's.
pytestmark = pytest.mark.slow


@pytest.fixture
def slow(monkeypatch) -> None:
    """Transitions long enough to be seen between two calls on a busy machine."""
    monkeypatch.setattr(endpoints, "DELAY_SECONDS", 0.5)


@pytest.fixture
def sandbox(stack) -> aws.Aws:
    env = load_repo(stack.repo_root).envs["sandbox"]
    return EmbeddedStack.current.admin(env.account_id, env.region)  # the emulation's operator


class Mme:
    """One model, endpoint configs made on demand, one endpoint name, in the sandbox."""

    def __init__(self, sm: aws.Aws):
        self.sm = sm
        self.name = f"ep-{uuid.uuid4().hex[:8]}"
        self.models = [f"{self.name}-m1", f"{self.name}-m2"]
        for model in self.models:
            sm.call(
                "sagemaker",
                "create_model",
                ModelName=model,
                ExecutionRoleArn="arn:aws:iam::222222222222:role/sagemaker",
                PrimaryContainer={
                    "Image": "xgboost",
                    "Mode": "MultiModel",
                    "ModelDataUrl": "s3://b/p/",
                },
            )

    def config(self, instance_type: str = "ml.m5.large", count: int = 1, model: int = 0) -> str:
        name = f"{self.name}-{uuid.uuid4().hex[:6]}"
        self.sm.call(
            "sagemaker",
            "create_endpoint_config",
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": self.models[model],
                    "InstanceType": instance_type,
                    "InitialInstanceCount": count,
                }
            ],
        )
        return name

    def describe(self) -> dict:
        return self.sm.call("sagemaker", "describe_endpoint", EndpointName=self.name)

    def create(self, config: str) -> dict:
        self.sm.call(
            "sagemaker", "create_endpoint", EndpointName=self.name, EndpointConfigName=config
        )
        return settle_endpoint(self.sm, self.name)

    def update(self, config: str, **kwargs) -> str:
        return self.sm.call(
            "sagemaker",
            "update_endpoint",
            EndpointName=self.name,
            EndpointConfigName=config,
            **kwargs,
        )["EndpointArn"]


def test_create_passes_through_creating_and_delete_through_deleting(sandbox, slow):
    mme = Mme(sandbox)
    config = mme.config()
    sandbox.call("sagemaker", "create_endpoint", EndpointName=mme.name, EndpointConfigName=config)
    assert mme.describe()["EndpointStatus"] == "Creating"
    with pytest.raises(AwsError, match="already existing"):
        sandbox.call(
            "sagemaker", "create_endpoint", EndpointName=mme.name, EndpointConfigName=config
        )
    assert settle_endpoint(sandbox, mme.name)["EndpointStatus"] == "InService"

    sandbox.call("sagemaker", "delete_endpoint", EndpointName=mme.name)
    assert mme.describe()["EndpointStatus"] == "Deleting"
    assert settle_endpoint(sandbox, mme.name) is None
    with pytest.raises(NotFound):
        mme.describe()


def test_update_runs_updating_then_switches_to_the_new_config(sandbox, slow):
    mme = Mme(sandbox)
    old, new = mme.config(), mme.config()
    before = mme.create(old)
    heard: list[tuple[str, str]] = []
    remove = add_endpoint_update_listener(lambda _a, _r, name, cfg: heard.append((name, cfg)))
    try:
        assert mme.update(new) == before["EndpointArn"]
        during = mme.describe()
        # The old fleet serves until the new one is ready: the old config is still named.
        assert (during["EndpointStatus"], during["EndpointConfigName"]) == ("Updating", old)
        assert heard == []
        with pytest.raises(AwsError, match="Updating"):
            mme.update(mme.config())
        with pytest.raises(AwsError, match="Updating"):  # nor can autoscaling act meanwhile
            sandbox.call(
                "sagemaker",
                "update_endpoint_weights_and_capacities",
                EndpointName=mme.name,
                DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredInstanceCount": 2}],
            )
        after = settle_endpoint(sandbox, mme.name)
    finally:
        remove()
    assert (after["EndpointStatus"], after["EndpointConfigName"]) == ("InService", new)
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]
    assert heard == [(mme.name, new)]


def test_update_refuses_unknown_names_the_config_in_use_and_other_accounts(sandbox, stack):
    mme = Mme(sandbox)
    config = mme.config()
    mme.create(config)
    with pytest.raises(AwsError, match="nowhere"):
        mme.update("nowhere")
    with pytest.raises(AwsError, match="create a new one"):
        mme.update(config)
    with pytest.raises(AwsError, match="no-such-endpoint"):
        sandbox.call(
            "sagemaker",
            "update_endpoint",
            EndpointName="no-such-endpoint",
            EndpointConfigName=config,
        )
    # Another account cannot see, let alone update, the sandbox's endpoint.
    prod = load_repo(stack.repo_root).envs["prod"]
    prod_aws = EmbeddedStack.current.admin(prod.account_id, prod.region)  # the emulation's operator
    with pytest.raises(NotFound):
        prod_aws.call(
            "sagemaker", "update_endpoint", EndpointName=mme.name, EndpointConfigName=config
        )


def _register(sm: aws.Aws, name: str) -> None:
    sm.call(
        "application-autoscaling",
        "register_scalable_target",
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{name}/variant/{VARIANT}",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )


def test_instance_type_change_of_an_autoscaled_variant_fails_until_deregistered(sandbox):
    mme = Mme(sandbox)
    mme.create(mme.config("ml.m5.large"))
    _register(sandbox, mme.name)

    bigger = mme.config("ml.m5.xlarge")
    with pytest.raises(AwsError, match="DeregisterScalableTarget") as e:
        mme.update(bigger)
    assert e.value.code == "ValidationException"
    assert mme.describe()["EndpointStatus"] == "InService"  # nothing started

    # The documented exception: another model on the same instance type is allowed.
    mme.update(mme.config("ml.m5.large", model=1))
    assert settle_endpoint(sandbox, mme.name)["EndpointStatus"] == "InService"

    sandbox.call(
        "application-autoscaling",
        "deregister_scalable_target",
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{mme.name}/variant/{VARIANT}",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    mme.update(bigger)
    assert settle_endpoint(sandbox, mme.name)["EndpointConfigName"] == bigger


def _counts(ep: dict) -> tuple[int, int]:
    v = ep["ProductionVariants"][0]
    return v["CurrentInstanceCount"], v["DesiredInstanceCount"]


def test_retained_variant_properties_keep_the_live_instance_count(sandbox):
    mme = Mme(sandbox)
    mme.create(mme.config(count=1))
    # Application Auto Scaling scales a variant out through this call.
    sandbox.call(
        "sagemaker",
        "update_endpoint_weights_and_capacities",
        EndpointName=mme.name,
        DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredInstanceCount": 3}],
    )
    assert _counts(settle_endpoint(sandbox, mme.name)) == (3, 3)

    mme.update(mme.config(count=1), RetainAllVariantProperties=True)
    assert _counts(settle_endpoint(sandbox, mme.name)) == (3, 3)

    mme.update(
        mme.config(count=2),
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
    )
    assert _counts(settle_endpoint(sandbox, mme.name)) == (2, 2)

    mme.update(mme.config(count=1))  # the default: the new config's count
    assert _counts(settle_endpoint(sandbox, mme.name)) == (1, 1)


def test_a_failed_update_rolls_back_to_the_old_config_with_a_failure_reason(sandbox, slow):
    mme = Mme(sandbox)
    old = mme.config()
    mme.create(old)
    heard: list[str] = []
    remove = add_endpoint_update_listener(lambda _a, _r, name, cfg: heard.append(cfg))
    try:
        with endpoints.failing(update="health check failed") as faults:
            mme.update(mme.config())
        assert mme.describe()["EndpointStatus"] == "Updating"
        after = settle_endpoint(sandbox, mme.name)
    finally:
        remove()
    assert faults.counts["update"] == 1
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == old
    assert after["FailureReason"] == "health check failed"
    assert heard == []  # the old fleet never stopped serving

    new = mme.config()
    mme.update(new)  # a later update succeeds and clears the reason
    after = settle_endpoint(sandbox, mme.name)
    assert after["EndpointConfigName"] == new
    assert "FailureReason" not in after


def test_a_failed_creation_is_failed_and_only_deletable(sandbox):
    mme = Mme(sandbox)
    with endpoints.failing(create=endpoints.CREATE_FAILURE):
        sandbox.call(
            "sagemaker", "create_endpoint", EndpointName=mme.name, EndpointConfigName=mme.config()
        )
    failed = settle_endpoint(sandbox, mme.name)
    assert failed["EndpointStatus"] == "Failed"
    assert failed["FailureReason"] == endpoints.CREATE_FAILURE
    with pytest.raises(AwsError, match="Failed"):
        mme.update(mme.config())
    sandbox.call("sagemaker", "delete_endpoint", EndpointName=mme.name)
    assert settle_endpoint(sandbox, mme.name) is None


def test_an_endpoint_config_in_use_cannot_be_deleted(sandbox, slow):
    mme = Mme(sandbox)
    old, new = mme.config(), mme.config()
    mme.create(old)
    mme.update(new)
    for config in (old, new):  # live, and the target of the update in progress
        with pytest.raises(AwsError, match="in use by endpoint"):
            sandbox.call("sagemaker", "delete_endpoint_config", EndpointConfigName=config)
    settle_endpoint(sandbox, mme.name)
    sandbox.call("sagemaker", "delete_endpoint_config", EndpointConfigName=old)  # retired
    sandbox.call("sagemaker", "delete_endpoint", EndpointName=mme.name)
    with pytest.raises(AwsError, match="in use by endpoint"):  # still Deleting
        sandbox.call("sagemaker", "delete_endpoint_config", EndpointConfigName=new)
    assert settle_endpoint(sandbox, mme.name) is None
    sandbox.call("sagemaker", "delete_endpoint_config", EndpointConfigName=new)
