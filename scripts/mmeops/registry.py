"""The SageMaker Model Registry as mmeops uses it: one package group per model, in the
training account, package metadata in CustomerMetadataProperties (moto cannot tag packages)."""

from __future__ import annotations

from mmeops.aws import Aws, partition
from mmeops.errors import NotFound


def package_arn(region: str, account: str, group: str, version: int) -> str:
    # Package group = model name; versions are numbered from 1 within the group. The
    # partition follows the region: a hard-coded `arn:aws:` names nothing in China or GovCloud.
    return f"arn:{partition(region)}:sagemaker:{region}:{account}:model-package/{group}/{version}"


def ensure_group(aws: Aws, group: str, description: str) -> bool:
    """Create the model package group when missing; True when it was created."""
    try:
        aws.call("sagemaker", "describe_model_package_group", ModelPackageGroupName=group)
        return False
    except NotFound:
        aws.call(
            "sagemaker",
            "create_model_package_group",
            ModelPackageGroupName=group,
            ModelPackageGroupDescription=description,
        )
        return True


def describe(aws: Aws, group: str, version: int) -> dict | None:
    try:
        return aws.call(
            "sagemaker",
            "describe_model_package",
            ModelPackageName=package_arn(aws.region, aws.account_id, group, version),
        )
    except NotFound:
        return None


def model_data_url(package: dict) -> str:
    return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
