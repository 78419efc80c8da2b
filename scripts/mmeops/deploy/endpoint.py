"""Endpoint-wide mutations: create the MME, roll out new endpoint configs, autoscaling.

A new endpoint config is how SageMaker changes instances (blue/green: the old fleet serves
until the new one is InService) and how a stable-named artifact is refreshed (a new fleet
starts with an empty model cache). The last `KEEP_CONFIGS` configs are kept for a manual
switch back; older ones are deleted.
"""

from __future__ import annotations

import datetime as dt
import re

from mmeops import waiting
from mmeops.aws import Aws
from mmeops.deploy.desired import VARIANT, Desired
from mmeops.deploy.planner import (
    ENDPOINT,
    ConfigureAutoscaling,
    EnsureEndpoint,
    RefreshEndpoint,
    RemoveAutoscaling,
    RepairEndpoint,
    ReplaceEndpoint,
    UpdateEndpointConfig,
)
from mmeops.deploy.remote import config_digest, model_name, scaling_resource
from mmeops.errors import AwsError, NotFound
from mmeops.images import xgboost_image

KEEP_CONFIGS = 3
# EndpointStatus values (botocore's EndpointStatus enum) that SageMaker moves on from by itself.
TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
FIRST_POLL_SECONDS = 0.1
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def _stamp(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z"


def config_name(
    endpoint: str, model: str, instance_type: str, count: int, now: dt.datetime | None = None
) -> str:
    """`<endpoint>-<UTC timestamp>-<digest of its content>`: sorts by time, tells when it was
    rolled out, and lets a reconcile skip describing it (remote.py). A name is 63 characters
    at most and the roles allow `endpoint-config/<endpoint>-*` (infra/bootstrap.yaml): an
    endpoint name longer than 33 gets `<endpoint[:42]>-<timestamp>`, described every time."""
    if len(endpoint) > 33:
        return f"{endpoint[:42]}-{_stamp(now)}"
    return f"{endpoint}-{_stamp(now)}-{config_digest(model, instance_type, count)}"


def alternate_model_name(endpoint: str) -> str:
    """A new model beside the usual one when that one points elsewhere (models are immutable)."""
    return f"{endpoint[:38]}-mme-{_stamp()}"


def our_configs(endpoint: str) -> re.Pattern:
    """The names of configs mmeops created: this layout, and the one before the digest."""
    return re.compile(
        rf"^(?:{re.escape(endpoint[:42])}-[0-9]{{8}}T[0-9]{{9}}Z"
        rf"|{re.escape(endpoint[:33])}-[0-9]{{8}}T[0-9]{{9}}Z-[0-9a-f]{{8}})$"
    )


class EndpointOps:
    def __init__(
        self,
        aws: Aws,
        desired: Desired,
        poll_seconds: float = 15.0,  # the longest pause between two polls
        timeout_seconds: float = 3600.0,
    ):
        self.aws = aws
        self.desired = desired
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    def _create_config(self, model: str, instance_type: str, count: int) -> str:
        name = config_name(self.desired.endpoint_name, model, instance_type, count)
        self.aws.call(
            "sagemaker",
            "create_endpoint_config",
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": model,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": count,
                }
            ],
        )
        return name

    def ensure_model(self, image_version: str) -> str:
        """A MultiModel model that loads this environment's prefix: the usual one when it is
        there and right, created when missing, a new name beside it when it points elsewhere
        (models are immutable)."""
        name = model_name(self.desired.endpoint_name)
        try:
            found = self.aws.call("sagemaker", "describe_model", ModelName=name)
        except NotFound:
            found = None
        if found is not None:
            if (found.get("PrimaryContainer") or {}).get("ModelDataUrl") == self.desired.prefix_uri:
                return name
            name = alternate_model_name(self.desired.endpoint_name)
        self.aws.call(
            "sagemaker",
            "create_model",
            ModelName=name,
            ExecutionRoleArn=self.desired.execution_role_arn,
            PrimaryContainer={
                "Image": xgboost_image(self.desired.region, image_version),
                "ModelDataUrl": self.desired.prefix_uri,
                "Mode": "MultiModel",
            },
        )
        return name

    def ensure(self, a: EnsureEndpoint) -> None:
        """The seed's one-time setup: MultiModel model, endpoint config, endpoint (after
        deleting a Failed one, which SageMaker cannot update)."""
        if isinstance(a, ReplaceEndpoint):
            self.delete(a.endpoint)
        name = self.ensure_model(a.image_version)
        config = self._create_config(name, a.instance_type, a.instance_count)
        self.aws.call(
            "sagemaker", "create_endpoint", EndpointName=a.endpoint, EndpointConfigName=config
        )
        self.wait_in_service()

    def delete(self, name: str) -> None:
        """DeleteEndpoint, then wait until it is gone (Deleting passes): the name is free for
        a CreateEndpoint only then."""
        self.aws.call("sagemaker", "delete_endpoint", EndpointName=name)
        state = ""

        def step() -> bool | None:
            nonlocal state
            try:
                described = self.aws.call("sagemaker", "describe_endpoint", EndpointName=name)
            except NotFound:
                return True
            state = described.get("EndpointStatus", "")
            return None

        self._poll(
            step,
            lambda: AwsError(
                "delete_endpoint",
                "Timeout",
                f"endpoint {name} still {state} after {self.timeout_seconds:g}s",
            ),
        )

    def update(self, a: UpdateEndpointConfig) -> None:
        """Blue/green: a new endpoint config, UpdateEndpoint, wait, check that it took (a
        failed update rolls back), drop configs beyond 3."""
        # SageMaker refuses to update an endpoint that is not InService: one still Creating or
        # Updating (a run that died mid-update, say) is waited for first.
        self.wait_in_service()
        if isinstance(a, RepairEndpoint):
            model = self.ensure_model(a.image_version)
        else:
            model = a.model_name or model_name(self.desired.endpoint_name)
        config = self._create_config(model, a.instance_type, a.instance_count)
        if a.suspend_scaling is not None:
            self.stop_autoscaling(RemoveAutoscaling(ENDPOINT, a.suspend_scaling))
        # A refresh changes no capacity on purpose: an autoscaled endpoint keeps the instances
        # scaling gave it (RetainAllVariantProperties) instead of dropping to the file's count
        # under load. A change of the file's instance type or count takes the new config's.
        retain = isinstance(a, RefreshEndpoint) and self.desired.autoscaling is not None
        self.aws.call(
            "sagemaker",
            "update_endpoint",
            EndpointName=self.desired.endpoint_name,
            EndpointConfigName=config,
            RetainAllVariantProperties=retain,
        )
        status = self.wait_in_service()
        # A failed update rolls back: InService again, on the OLD config, with a reason.
        if status.get("EndpointConfigName") != config:
            raise AwsError(
                "update_endpoint",
                "UpdateRolledBack",
                f"SageMaker kept {status.get('EndpointConfigName')} instead of {config}: "
                + (status.get("FailureReason") or "no FailureReason given"),
            )
        self.prune_configs(config)

    def wait_in_service(self) -> dict:
        """Poll DescribeEndpoint until the endpoint is InService (its description), or raise:
        a state SageMaker will not leave by itself (Failed, OutOfService,
        UpdateRollbackFailed, or one this code does not know) with its FailureReason, or the
        deadline (mmeops/waiting.py: pauses from FIRST_POLL_SECONDS up to `poll_seconds`)."""
        name = self.desired.endpoint_name
        state = ""

        def step() -> dict | None:
            nonlocal state
            status = self.aws.call("sagemaker", "describe_endpoint", EndpointName=name)
            state = status.get("EndpointStatus", "")
            if state == "InService":
                return status
            if state not in TRANSITIONAL:
                raise AwsError(
                    "wait_in_service",
                    state or "Unknown",
                    status.get("FailureReason") or f"endpoint {name} is {state}",
                )
            return None

        return self._poll(
            step,
            lambda: AwsError(
                "wait_in_service",
                "Timeout",
                f"endpoint {name} still {state} after {self.timeout_seconds:g}s",
            ),
        )

    def _poll(self, step, late):
        return waiting.poll(
            step,
            seconds=self.timeout_seconds,
            first=FIRST_POLL_SECONDS,
            cap=self.poll_seconds,
            late=late,
        )

    def prune_configs(self, in_use: str) -> list[str]:
        ours = our_configs(self.desired.endpoint_name)
        configs = [
            c["EndpointConfigName"]
            for c in self.aws.paginate(
                "sagemaker",
                "list_endpoint_configs",
                "EndpointConfigs",
                NameContains=self.desired.endpoint_name[:33],
                SortBy="CreationTime",
                SortOrder="Descending",
            )
            if ours.match(c["EndpointConfigName"])
        ]
        doomed = [c for c in configs[KEEP_CONFIGS:] if c != in_use]
        for c in doomed:
            self.aws.call("sagemaker", "delete_endpoint_config", EndpointConfigName=c)
        return doomed

    def autoscale(self, a: ConfigureAutoscaling) -> None:
        resource = scaling_resource(self.desired)
        self.aws.call(
            "application-autoscaling",
            "register_scalable_target",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=a.min_capacity,
            MaxCapacity=a.max_capacity,
        )
        self.aws.call(
            "application-autoscaling",
            "put_scaling_policy",
            PolicyName=f"{self.desired.endpoint_name}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(a.target_invocations),
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance",
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )

    def stop_autoscaling(self, a: RemoveAutoscaling) -> None:
        """Delete the policies, then the scalable target. AWS deletes a target's policies
        with it; deleting them first says so explicitly, and a rerun after a crash between
        the two finds the target alone and finishes."""
        resource = scaling_resource(self.desired)
        for name in a.policies:
            self.aws.call(
                "application-autoscaling",
                "delete_scaling_policy",
                PolicyName=name,
                ServiceNamespace="sagemaker",
                ResourceId=resource,
                ScalableDimension=SCALABLE_DIMENSION,
            )
        self.aws.call(
            "application-autoscaling",
            "deregister_scalable_target",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
        )
