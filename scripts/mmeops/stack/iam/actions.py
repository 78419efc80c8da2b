"""Which IAM actions on which resources one request needs: the operation table.

Each row cites where AWS documents it. The resource types each action requires, and the
condition keys it supports, come from the Service Authorization Reference (`sar`); the test
tests/stack/test_iam_table.py checks every row against it. An operation no row names needs
`<prefix>:<Operation>` on "*" (stricter than AWS when AWS scopes it to a resource, never
more lenient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmeops.stack.iam import store

SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/"


@dataclass(frozen=True)
class Need:
    """One action on one resource; `policy` names the resource policy that also decides
    ("bucket", "key", "trust") and `owner` the account that owns the resource."""

    action: str
    resource: str
    resource_type: str  # the SAR's resource type ("" for "*")
    owner: str
    context: dict[str, Any] = field(default_factory=dict)
    policy: str | None = None


@dataclass(frozen=True)
class Call:
    """The request as the table reads it."""

    service: str  # IAM prefix: s3, sagemaker, sts, ...
    operation: str
    params: dict[str, Any]
    headers: dict[str, str]
    account: str  # the caller's account (where moto will act)
    region: str


Row = Callable[[Call], list[Need]]
ROWS: dict[tuple[str, str], Row] = {}


def row(service: str, *operations: str) -> Callable[[Row], Row]:
    def add(fn: Row) -> Row:
        for op in operations:
            ROWS[(service, op)] = fn
        return fn

    return add


def needs(call: Call) -> list[Need]:
    fn = ROWS.get((call.service, call.operation))
    if fn is not None:
        return fn(call)
    return [Need(f"{call.service}:{call.operation}", "*", "", call.account)]


# --- S3 (Amazon S3 User Guide, "Required permissions for Amazon S3 API operations",
# using-with-s3-policy-actions.html; SSE-KMS: UsingKMSEncryption.html "Permissions") --------


def _bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _owner(name: str, call: Call) -> tuple[str, Any]:
    found = store.bucket(name)
    return found if found is not None else (call.account, None)


def _bucket_need(action: str, call: Call, context: dict | None = None) -> Need:
    name = call.params.get("Bucket", "")
    owner, _ = _owner(name, call)
    return Need(action, _bucket_arn(name), "bucket", owner, context or {}, "bucket")


def _object_need(action: str, bucket: str, key: str, call: Call) -> Need:
    owner, _ = _owner(bucket, call)
    return Need(action, f"arn:aws:s3:::{bucket}/{key}", "object", owner, {}, "bucket")


def _kms_need(action: str, key_ref: str, call: Call, bucket_owner: str) -> Need:
    """kms:Decrypt / kms:GenerateDataKey on the key S3 uses for the caller (UsingKMSEncryption
    .html: "you must have kms:GenerateDataKey ... kms:Decrypt"); the key policy decides too."""
    key = store.key(bucket_owner, call.region, key_ref)
    arn = key.arn if key is not None else _key_arn(key_ref, bucket_owner, call.region)
    owner = arn.split(":")[4]
    return Need(
        action, arn, "key", owner, {"kms:ViaService": f"s3.{call.region}.amazonaws.com"}, "key"
    )


def _key_arn(key_ref: str, account: str, region: str) -> str:
    if key_ref.startswith("arn:"):
        return key_ref
    return f"arn:aws:kms:{region}:{account}:key/{key_ref}"


def _put_key(call: Call, bucket: str) -> str | None:
    """The key a write encrypts with: the request's SSE-KMS header, else the bucket default."""
    if call.headers.get("x-amz-server-side-encryption") == "aws:kms":
        explicit = call.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if explicit:
            return explicit
        return "alias/aws/s3"
    _, found = _owner(bucket, call)
    return store.bucket_kms_key(found) if found is not None else None


@row("s3", "GetObject", "HeadObject", "GetObjectAttributes")
def _get_object(call: Call) -> list[Need]:
    # HeadObject and GetObjectAttributes need s3:GetObject (API_HeadObject.html "Permissions");
    # a version needs s3:GetObjectVersion; SSE-KMS objects kms:Decrypt.
    bucket, key = call.params.get("Bucket", ""), call.params.get("Key", "")
    action = "s3:GetObjectVersion" if call.params.get("VersionId") else "s3:GetObject"
    out = [_object_need(action, bucket, key, call)]
    owner, found = _owner(bucket, call)
    if call.operation == "GetObject" and (kms := store.object_kms_key(found, key)):
        out.append(_kms_need("kms:Decrypt", kms, call, owner))
    return out


@row("s3", "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
def _put_object(call: Call) -> list[Need]:
    # Multipart parts are s3:PutObject (using-with-s3-policy-actions.html); an SSE-KMS write
    # needs kms:GenerateDataKey (UsingKMSEncryption.html), asked when the upload starts.
    bucket, key = call.params.get("Bucket", ""), call.params.get("Key", "")
    out = [_object_need("s3:PutObject", bucket, key, call)]
    owner, _ = _owner(bucket, call)
    if call.operation in ("PutObject", "CreateMultipartUpload") and (kms := _put_key(call, bucket)):
        out.append(_kms_need("kms:GenerateDataKey", kms, call, owner))
    return out


@row("s3", "CopyObject")
def _copy_object(call: Call) -> list[Need]:
    # API_CopyObject.html "Permissions": s3:GetObject on the source, s3:PutObject on the
    # target; kms:Decrypt on an SSE-KMS source's key, kms:GenerateDataKey on the target's.
    source = call.params.get("CopySource", "").lstrip("/").split("?versionId=")[0]
    src_bucket, _, src_key = source.partition("/")
    out = [_object_need("s3:GetObject", src_bucket, src_key, call)]
    src_owner, src_found = _owner(src_bucket, call)
    if kms := store.object_kms_key(src_found, src_key):
        out.append(_kms_need("kms:Decrypt", kms, call, src_owner))
    out += _put_object(
        Call(call.service, "PutObject", call.params, call.headers, call.account, call.region)
    )
    return out


@row("s3", "DeleteObject")
def _delete_object(call: Call) -> list[Need]:
    action = "s3:DeleteObjectVersion" if call.params.get("VersionId") else "s3:DeleteObject"
    return [_object_need(action, call.params.get("Bucket", ""), call.params.get("Key", ""), call)]


@row("s3", "AbortMultipartUpload")
def _abort(call: Call) -> list[Need]:
    bucket, key = call.params.get("Bucket", ""), call.params.get("Key", "")
    return [_object_need("s3:AbortMultipartUpload", bucket, key, call)]


@row("s3", "ListObjectsV2", "ListObjects", "HeadBucket")
def _list(call: Call) -> list[Need]:
    # ListObjectsV2 and HeadBucket need s3:ListBucket (API_ListObjectsV2.html, API_HeadBucket
    # .html); the s3:prefix condition key is the request's prefix ("" when none is sent:
    # amazon-s3-policy-keys.html "s3:prefix").
    context = {"s3:prefix": call.params.get("Prefix", "")}
    if call.params.get("Delimiter"):
        context["s3:delimiter"] = call.params["Delimiter"]
    return [_bucket_need("s3:ListBucket", call, context)]


@row("s3", "ListObjectVersions")
def _list_versions(call: Call) -> list[Need]:
    return [
        _bucket_need("s3:ListBucketVersions", call, {"s3:prefix": call.params.get("Prefix", "")})
    ]


_BUCKET_ACTIONS = {  # using-with-s3-policy-actions.html: bucket operations and their actions
    "CreateBucket": "s3:CreateBucket",
    "DeleteBucket": "s3:DeleteBucket",
    "PutBucketVersioning": "s3:PutBucketVersioning",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetBucketLocation": "s3:GetBucketLocation",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}
for _op, _action in _BUCKET_ACTIONS.items():
    ROWS[("s3", _op)] = lambda call, _a=_action: [_bucket_need(_a, call)]


@row("s3", "ListBuckets")
def _list_buckets(call: Call) -> list[Need]:
    return [Need("s3:ListAllMyBuckets", "*", "", call.account)]


# --- SageMaker (Service Authorization Reference, list_amazonsagemaker.html; SageMaker ARNs name
# resources in lower case: "sagemaker-api-permissions-reference") ----------------------------


def _sm(call: Call, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{call.region}:{call.account}:{kind}/{name.lower()}"


def _sm_need(call: Call, kind: str, name: str, action: str | None = None) -> Need:
    return Need(action or f"sagemaker:{call.operation}", _sm(call, kind, name), kind, call.account)


def _pass_role(call: Call, role_arn: str | None) -> list[Need]:
    """iam:PassRole with iam:PassedToService (id_roles_use_passrole.html; SageMaker's
    sagemaker-roles.html "Passing roles")."""
    if not role_arn:
        return []
    context = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    return [Need("iam:PassRole", role_arn, "role", role_arn.split(":")[4], context)]


def _simple_sm(kind: str, member: str) -> Row:
    return lambda call: [_sm_need(call, kind, str(call.params.get(member, "")))]


for _ops, _kind, _member in (
    (("DescribeEndpoint", "DeleteEndpoint"), "endpoint", "EndpointName"),
    (
        ("CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig"),
        "endpoint-config",
        "EndpointConfigName",
    ),
    (("DescribeModel", "DeleteModel"), "model", "ModelName"),
    (("DescribeTrainingJob", "StopTrainingJob"), "training-job", "TrainingJobName"),
    (
        (
            "DescribeHyperParameterTuningJob",
            "StopHyperParameterTuningJob",
            "ListTrainingJobsForHyperParameterTuningJob",
        ),
        "hyper-parameter-tuning-job",
        "HyperParameterTuningJobName",
    ),
    (
        ("CreateModelPackageGroup", "DescribeModelPackageGroup", "DeleteModelPackageGroup"),
        "model-package-group",
        "ModelPackageGroupName",
    ),
):
    for _op in _ops:
        ROWS[("sagemaker", _op)] = _simple_sm(_kind, _member)


@row("sagemaker", "CreateEndpoint", "UpdateEndpoint")
def _endpoint_with_config(call: Call) -> list[Need]:
    # The SAR lists BOTH endpoint* and endpoint-config* as required for CreateEndpoint and
    # UpdateEndpoint: the caller needs the action on the endpoint AND on the config.
    return [
        _sm_need(call, "endpoint", call.params.get("EndpointName", "")),
        _sm_need(call, "endpoint-config", call.params.get("EndpointConfigName", "")),
    ]


@row("sagemaker", "CreateModel")
def _create_model(call: Call) -> list[Need]:
    return [_sm_need(call, "model", call.params.get("ModelName", ""))] + _pass_role(
        call, call.params.get("ExecutionRoleArn")
    )


@row("sagemaker", "CreateTrainingJob")
def _create_training_job(call: Call) -> list[Need]:
    return [_sm_need(call, "training-job", call.params.get("TrainingJobName", ""))] + _pass_role(
        call, call.params.get("RoleArn")
    )


@row("sagemaker", "CreateHyperParameterTuningJob")
def _create_tuning_job(call: Call) -> list[Need]:
    name = call.params.get("HyperParameterTuningJobName", "")
    definitions = [call.params.get("TrainingJobDefinition") or {}]
    definitions += call.params.get("TrainingJobDefinitions") or []
    roles = sorted({d.get("RoleArn") for d in definitions if d.get("RoleArn")})
    out = [_sm_need(call, "hyper-parameter-tuning-job", name)]
    for role_arn in roles:
        out += _pass_role(call, role_arn)
    return out


def _package_arn(call: Call, name: str) -> str:
    return name.lower() if name.startswith("arn:") else _sm(call, "model-package", name)


@row("sagemaker", "DescribeModelPackage", "UpdateModelPackage", "DeleteModelPackage")
def _package(call: Call) -> list[Need]:
    arn = _package_arn(
        call, call.params.get("ModelPackageName") or call.params.get("ModelPackageArn", "")
    )
    context = _package_keys(call.params) if call.operation == "UpdateModelPackage" else {}
    return [Need(f"sagemaker:{call.operation}", arn, "model-package", arn.split(":")[4], context)]


def _package_keys(params: dict) -> dict:
    """UpdateModelPackage's request condition keys (list_amazonsagemaker.html, "Condition
    keys"): the status asked for, each metadata key sent, the keys to remove, the lifecycle."""
    context: dict = {}
    if params.get("ModelApprovalStatus"):
        context["sagemaker:ModelApprovalStatus"] = params["ModelApprovalStatus"]
    for key, value in (params.get("CustomerMetadataProperties") or {}).items():
        context[f"sagemaker:CustomerMetadataProperties/{key}"] = value
    if params.get("CustomerMetadataPropertiesToRemove"):
        context["sagemaker:CustomerMetadataPropertiesToRemove"] = list(
            params["CustomerMetadataPropertiesToRemove"]
        )
    life = params.get("ModelLifeCycle") or {}
    if life.get("Stage"):
        context["sagemaker:ModelLifeCycle:Stage"] = life["Stage"]
    if life.get("StageStatus"):
        context["sagemaker:ModelLifeCycle:StageStatus"] = life["StageStatus"]
    return context


@row("sagemaker", "CreateModelPackage")
def _create_package(call: Call) -> list[Need]:
    # A versioned package's ARN is model-package/<group>/<version>, the next version.
    group = call.params.get("ModelPackageGroupName")
    if group:
        version = store.next_package_version(call.account, call.region, group)
        arn = _sm(call, "model-package", f"{group}/{version}")
    else:
        arn = _sm(call, "model-package", call.params.get("ModelPackageName", ""))
    return [Need("sagemaker:CreateModelPackage", arn, "model-package", call.account)]


@row("sagemaker", "InvokeEndpoint")
def _invoke(call: Call) -> list[Need]:
    return [_sm_need(call, "endpoint", call.params.get("EndpointName", ""))]


# --- the rest ----------------------------------------------------------------------------------


@row("secretsmanager", "GetSecretValue", "DescribeSecret")
def _secret(call: Call) -> list[Need]:
    arn = store.secret_arn(call.account, call.region, call.params.get("SecretId", ""))
    return [Need(f"secretsmanager:{call.operation}", arn, "Secret", call.account)]


@row("sns", "Publish")
def _publish(call: Call) -> list[Need]:
    arn = call.params.get("TopicArn") or call.params.get("TargetArn") or "*"
    return [Need("sns:Publish", arn, "topic", call.account)]


_SCALABLE = "application-autoscaling"


@row(_SCALABLE, "RegisterScalableTarget", "DeregisterScalableTarget", "DeleteScalingPolicy")
def _scalable(call: Call) -> list[Need]:
    # Application Auto Scaling authorizes on the scalable target, whose ARN carries a
    # service-made id (list_applicationautoscaling.html): any target of the account.
    arn = f"arn:aws:application-autoscaling:{call.region}:{call.account}:scalable-target/*"
    return [Need(f"{_SCALABLE}:{call.operation}", arn, "ScalableTarget", call.account)]


@row(_SCALABLE, "PutScalingPolicy")
def _put_scaling_policy(call: Call) -> list[Need]:
    # Target tracking creates and manages CloudWatch alarms as the caller
    # (application/userguide/auth-and-access-control.html, "Permissions required ...
    # PutScalingPolicy": cloudwatch:PutMetricAlarm, DescribeAlarms, DeleteAlarms).
    out = _scalable(call)
    if call.params.get("PolicyType") == "TargetTrackingScaling":
        resource = call.params.get("ResourceId", "")
        alarm = f"arn:aws:cloudwatch:{call.region}:{call.account}:alarm:TargetTracking-{resource}-*"
        for action in ("PutMetricAlarm", "DescribeAlarms", "DeleteAlarms"):
            out.append(Need(f"cloudwatch:{action}", alarm, "alarm", call.account))
    return out


@row("sts", "GetCallerIdentity")
def _whoami(call: Call) -> list[Need]:
    return []  # no permission needed (API_GetCallerIdentity.html)


@row("sts", "AssumeRole")
def _assume(call: Call) -> list[Need]:
    # The caller's identity policy AND the role's trust policy (id_roles_use_permissions-to-
    # switch.html); `decide` reads the trust.
    arn = call.params.get("RoleArn", "")
    return [
        Need(
            "sts:AssumeRole",
            arn,
            "role",
            arn.split(":")[4] if arn.count(":") >= 5 else "",
            {},
            "trust",
        )
    ]


@row("sts", "AssumeRoleWithWebIdentity")
def _assume_web(call: Call) -> list[Need]:
    arn = call.params.get("RoleArn", "")
    return [Need("sts:AssumeRoleWithWebIdentity", arn, "role", arn.split(":")[4], {}, "trust")]


@row("cloudwatch", "PutMetricData")
def _put_metric(call: Call) -> list[Need]:
    # No resource type (list_amazoncloudwatch.html): "*", with cloudwatch:namespace.
    return [
        Need(
            "cloudwatch:PutMetricData",
            "*",
            "",
            call.account,
            {"cloudwatch:namespace": call.params.get("Namespace", "")},
        )
    ]
