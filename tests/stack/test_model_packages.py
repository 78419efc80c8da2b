"""UpdateModelPackage changes only the fields it is sent, as SageMaker's does.

SageMaker's API reference (API_UpdateModelPackage,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html) marks
every field but ModelPackageArn optional, removes metadata keys only through
CustomerMetadataPropertiesToRemove and appends through AdditionalInferenceSpecificationsToAdd.
Moto 5.2.5 nulls every omitted field (stack/model_packages.py makes it partial): approval
relies on it, since the approver role may send no metadata key at all.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mmeops import aws
from mmeops.config.repo import load_repo

REPO_ROOT = Path(__file__).resolve().parents[2]

METADATA = {"artifact_sha256": "a" * 64, "sample_uri": "s3://b/evaluations/m/j/sample.csv"}


@pytest.fixture
def training(stack) -> aws.Aws:
    """The stack's admin in the training account: this checks the embedded SageMaker's
    UpdateModelPackage, which no single product role may call with every field (IAM)."""
    t = load_repo(REPO_ROOT).settings.training
    return stack.admin(t.account_id)


@pytest.fixture
def package(training: aws.Aws) -> str:
    group = f"partial-{uuid.uuid4().hex[:8]}"
    training.call("sagemaker", "create_model_package_group", ModelPackageGroupName=group)
    return training.call(
        "sagemaker",
        "create_model_package",
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties=METADATA,
    )["ModelPackageArn"]


def _update(training: aws.Aws, arn: str, **fields) -> None:
    training.call("sagemaker", "update_model_package", ModelPackageArn=arn, **fields)


def _describe(training: aws.Aws, arn: str) -> dict:
    return training.call("sagemaker", "describe_model_package", ModelPackageName=arn)


def test_approving_with_status_and_description_keeps_the_metadata(training, package):
    _update(
        training,
        package,
        ModelApprovalStatus="Approved",
        ApprovalDescription="approved by merging abc into environments/sandbox.yaml",
    )
    after = _describe(training, package)
    assert after["ModelApprovalStatus"] == "Approved"
    assert after["ApprovalDescription"].startswith("approved by merging abc")
    assert after["CustomerMetadataProperties"] == METADATA


def test_a_metadata_update_keeps_the_status_and_the_other_keys(training, package):
    _update(training, package, ModelApprovalStatus="Approved", ApprovalDescription="first")
    _update(training, package, CustomerMetadataProperties={"owner": "team-a"})
    after = _describe(training, package)
    assert (after["ModelApprovalStatus"], after["ApprovalDescription"]) == ("Approved", "first")
    assert after["CustomerMetadataProperties"] == {**METADATA, "owner": "team-a"}


def test_keys_go_only_when_named_for_removal(training, package):
    _update(training, package, CustomerMetadataPropertiesToRemove=["sample_uri"])
    after = _describe(training, package)
    assert after["CustomerMetadataProperties"] == {"artifact_sha256": "a" * 64}
    assert after["ModelApprovalStatus"] == "PendingManualApproval"
