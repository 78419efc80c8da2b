"""The embedded AWS refuses what AWS refuses: every request is checked against botocore's service
model (the data AWS's SDKs are generated from) before moto sees it, and a violation is answered
with the service's own error code and a message naming the member.

Requests go through raw boto3 clients with `parameter_validation=False`, so what botocore would
refuse on the client (a missing member, a short string) reaches the server as a broken client
or another SDK would send it. Invalid requests are sent inside `strict.expecting()`, which keeps
them out of the suite-wide log that `test_every_request_the_suite_sent_was_valid` checks.

Where each behaviour comes from:
- the constraints: botocore's service models (`get_service_model(name).shape_for(shape)`);
- the message form `N validation error(s) detected: Value 'X' at 'a.b' failed to satisfy
  constraint: Member must ...`, one entry per broken constraint, joined by `; `: real answers
  quoted in github.com/aws-samples/sagemaker-ml-workflow-with-apache-airflow/issues/3
  (SageMaker CreateModel: length and pattern of 'modelName'), localstack/localstack#6138
  (Application Auto Scaling enum at 'scalableDimension'), aws/aws-sdk-kotlin#1469 (Secrets
  Manager `Value null at 'secretId' ... Member must not be null`);
- JSON services' code `ValidationException` (HTTP 400, `__type`): aws/aws-sdk-js-v3#1215
  (Secrets Manager), the same localstack issue, docs.aws.amazon.com "Common Errors";
- STS's query-protocol code `ValidationError` with `<Type>Sender</Type>`:
  zalando-stups/aws-credentials-service#7 and JuliaCloud/AWSCore.jl#38 (AssumeRole,
  'roleSessionName' pattern `[\\w+=,.@-]*`);
- S3's codes `InvalidArgument` (with ArgumentName/ArgumentValue) and `InvalidStorageClass`:
  docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html.
"""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from mmeops.stack import strict
from mmeops.stack.iam.sessions import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY
from mmeops.tune import tuning_job as tune_sagemaker

UID = uuid.uuid4().hex[:6]
RAW = Config(parameter_validation=False, retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def client(stack):
    """A raw boto3 client of `service` on the embedded stack, botocore's own checks off, as
    the stack's admin (IAM would refuse the runner's own keys before validation)."""
    clients: dict[str, object] = {}

    def make(service: str):
        if service not in clients:
            clients[service] = boto3.client(
                service,
                endpoint_url=stack.moto_url,
                region_name="us-east-1",
                aws_access_key_id=ADMIN_ACCESS_KEY_ID,
                aws_secret_access_key=ADMIN_SECRET_ACCESS_KEY,
                config=RAW,
            )
        return clients[service]

    return make


def refused(client, operation: str, **params) -> tuple[str, str, int, dict]:
    """Send an invalid request; (code, message, HTTP status, error) of the refusal, after
    checking the validator logged exactly that one violation."""
    with strict.expecting() as log, pytest.raises(ClientError) as info:
        getattr(client, operation)(**params)
    error = info.value.response["Error"]
    status = info.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert [v.operation for v in log.violations] == [info.value.operation_name]
    return error["Code"], error["Message"], status, error


def passes(client, operation: str, **params) -> dict:
    """Send a valid request: the validator checks it, finds nothing, and moto answers."""
    with strict.expecting() as log:
        response = getattr(client, operation)(**params)
    assert sum(log.checked.values()) >= 1, "the validator never saw the request"
    assert log.violations == []
    return response


# --- SageMaker (json protocol) ---------------------------------------------------------------


def test_sagemaker_refuses_a_name_that_breaks_the_pattern(client):
    # ModelPackageGroupName: EntityName, pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
    sm = client("sagemaker")
    code, message, status, _ = refused(
        sm, "create_model_package_group", ModelPackageGroupName="a_b"
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value 'a_b' at 'modelPackageGroupName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    )
    # Refused before moto: nothing was created.
    groups = sm.list_model_package_groups(MaxResults=100)["ModelPackageGroupSummaryList"]
    assert "a_b" not in [g["ModelPackageGroupName"] for g in groups]


def test_sagemaker_refuses_a_too_long_name_with_every_broken_constraint(client):
    # EndpointConfigName: EndpointConfigName, max 63, pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
    name = "c" * 64
    code, message, _, _ = refused(
        client("sagemaker"),
        "create_endpoint_config",
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m"}],
    )
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: ")
    assert (
        f"Value '{name}' at 'endpointConfigName' failed to satisfy constraint: Member must "
        "have length less than or equal to 63"
    ) in message
    assert "at 'endpointConfigName' failed to satisfy constraint: Member must satisfy regular" in (
        message
    )


def test_sagemaker_refuses_a_missing_required_member_deep_in_a_list(client):
    # ProductionVariant.VariantName is required; AWS names list items `.N.member`.
    code, message, _, _ = refused(
        client("sagemaker"),
        "create_endpoint_config",
        EndpointConfigName=f"strict-{UID}",
        ProductionVariants=[{"ModelName": "m"}],
    )
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value null at 'productionVariants.1.member.variantName' "
        "failed to satisfy constraint: Member must not be null"
    )


def test_sagemaker_refuses_an_out_of_range_number(client):
    # ListModelPackages.MaxResults: MaxResults, 1..100.
    code, message, _, _ = refused(
        client("sagemaker"), "list_model_packages", ModelPackageGroupName="g", MaxResults=1000
    )
    assert code == "ValidationException"
    assert (
        "Value '1000' at 'maxResults' failed to satisfy constraint: Member must have value "
        "less than or equal to 100"
    ) in message


def test_sagemaker_refuses_an_instance_type_outside_the_enum(client):
    code, message, _, _ = refused(
        client("sagemaker"),
        "create_endpoint_config",
        EndpointConfigName=f"strict-{UID}",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.huge"}
        ],
    )
    assert code == "ValidationException"
    assert (
        "Value 'ml.m5.huge' at 'productionVariants.1.member.instanceType' failed to satisfy "
        "constraint: Member must satisfy enum value set: ["
    ) in message
    assert "ml.m5.large" in message


def test_sagemaker_refuses_a_value_of_the_wrong_json_type_as_a_serialization_error(client):
    # A JSON service reads the body into typed members first: a value it cannot read as the
    # member's type is a SerializationException (HTTP 400), before any constraint is looked at
    # (an AWS-side SerializationException for a body it could not read: brendanhay/amazonka#43).
    # The message's wording is the stack's own; AWS's varies by service.
    code, message, status, _ = refused(
        client("sagemaker"), "list_model_packages", ModelPackageGroupName="g", MaxResults="10"
    )
    assert (code, status) == ("SerializationException", 400)
    assert message == (
        "Value '10' at 'maxResults' failed to satisfy constraint: Member must be of type Integer"
    )


# --- the two known product defects (issue 14), as mmeops sends them today -------------------


def _tuning_request(warm_start_type: str) -> dict:
    """CreateHyperParameterTuningJob as the sagemaker backend builds it, warm-started."""
    return tune_sagemaker.build_request(
        job_name=f"strict-{UID}",
        image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        role_arn="arn:aws:iam::111111111111:role/mmeops-sagemaker-execution",
        instance_type="ml.m5.large",
        objective_metric="validation:rmse",
        direction="Minimize",
        max_jobs=4,
        max_parallel_jobs=2,
        ranges={"eta": {"type": "continuous", "min": 0.01, "max": 0.3}},
        static={"num_round": 100, "objective": "reg:squarederror"},
        train_uri="s3://mmeops-training-111111111111/datasets/m/train/",
        validation_uri="s3://mmeops-training-111111111111/datasets/m/validation/",
        output_path="s3://mmeops-training-111111111111/tuning/m/",
        parents=["parent-a", "parent-b"],
        warm_start_type=warm_start_type,
    )


@pytest.mark.parametrize("sent", ["IDENTICAL_DATA_AND_ALGORITHM", "TRANSFER_LEARNING"])
def test_the_warm_start_type_mmeops_sends_today_is_refused(client, sent):
    # botocore HyperParameterTuningJobWarmStartType: IdenticalDataAndAlgorithm | TransferLearning
    # (what the SageMaker Python SDK 2.x sends); tune/warmstart.py sends the prose spelling.
    code, message, status, _ = refused(
        client("sagemaker"), "create_hyper_parameter_tuning_job", **_tuning_request(sent)
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        f"1 validation error detected: Value '{sent}' at 'warmStartConfig.warmStartType' failed "
        "to satisfy constraint: Member must satisfy enum value set: "
        "[IdenticalDataAndAlgorithm, TransferLearning]"
    )


def test_the_service_spelling_of_the_warm_start_type_passes(client):
    """The validator lets the service's spelling through; the embedded SageMaker then checks
    the warm start itself (stack/warm_start.py) and finds that the parents this request names
    were never created (tests/stack/test_training.py warm-starts from real ones)."""
    with strict.expecting() as log, pytest.raises(ClientError) as info:
        client("sagemaker").create_hyper_parameter_tuning_job(
            **_tuning_request("IdenticalDataAndAlgorithm")
        )
    assert sum(log.checked.values()) >= 1 and log.violations == []
    message = info.value.response["Error"]["Message"]
    assert "warmStartType" not in message and "parent-a" in message


@pytest.fixture(scope="module")
def package_arn(client):
    sm = client("sagemaker")
    group = f"strict-{UID}"
    passes(sm, "create_model_package_group", ModelPackageGroupName=group)
    return passes(
        sm,
        "create_model_package",
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"parents": "none", "warm_start_type": "NONE"},
    )["ModelPackageArn"]


# CustomerMetadataValue: pattern ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*) (a Java pattern: \p{..} are
# Unicode classes). register/run.py joins two or more warm-start parents with commas.
PARENTS = {"parents": "tune-m-20261101-a,tune-m-20261108-b", "warm_start_type": "NONE"}


def test_registering_with_two_parents_as_mmeops_does_today_is_refused(client):
    sm = client("sagemaker")
    code, message, _, _ = refused(
        sm,
        "create_model_package",
        ModelPackageGroupName=f"strict-{UID}",
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties=PARENTS,
    )
    assert code == "ValidationException"
    assert (
        "at 'customerMetadataProperties' failed to satisfy constraint: Map value must "
        "satisfy constraint: [Member must satisfy regular expression pattern: "
    ) in message


def test_approving_a_package_whose_metadata_holds_a_comma_is_refused(client, package_arn):
    # A metadata update whose value breaks CustomerMetadataValue's pattern.
    code, message, _, _ = refused(
        client("sagemaker"),
        "update_model_package",
        ModelPackageArn=package_arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="approved by merging abc123 into environments/sandbox.yaml",
        CustomerMetadataProperties=PARENTS,
    )
    assert code == "ValidationException"
    assert "'customerMetadataProperties'" in message
    # Unicode letters and spaces are in the pattern's classes: still valid.
    passes(
        client("sagemaker"),
        "update_model_package",
        ModelPackageArn=package_arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="ok",
        CustomerMetadataProperties={"parents": "tune-a tune-b", "owner": "équipe données"},
    )


# --- Application Auto Scaling (json protocol, target prefix AnyScaleFrontendService) ---------


def test_application_autoscaling_refuses_a_dimension_outside_the_enum(client):
    code, message, status, _ = refused(
        client("application-autoscaling"),
        "register_scalable_target",
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/e/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:Instances",
        MinCapacity=1,
        MaxCapacity=2,
    )
    assert (code, status) == ("ValidationException", 400)
    assert (
        "Value 'sagemaker:variant:Instances' at 'scalableDimension' failed to satisfy "
        "constraint: Member must satisfy enum value set: ["
    ) in message
    assert "sagemaker:variant:DesiredInstanceCount" in message


def test_application_autoscaling_refuses_a_control_character_in_a_resource_id(client):
    # ResourceIdMaxLen1600: a Java pattern with surrogate pairs (\uD800\uDC00-\uDBFF\uDFFF is
    # every supplementary code point in Java) that allows no control character but \t\r\n.
    code, message, _, _ = refused(
        client("application-autoscaling"),
        "describe_scalable_targets",
        ServiceNamespace="sagemaker",
        ResourceIds=["endpoint/e\x01/variant/v"],
    )
    assert code == "ValidationException"
    assert (
        "at 'resourceIds' failed to satisfy constraint: Member must satisfy constraint: "
        "[Member must satisfy regular expression pattern: "
    ) in message


def test_application_autoscaling_refuses_a_too_long_resource_id_and_a_missing_member(client):
    code, message, _, _ = refused(
        client("application-autoscaling"),
        "register_scalable_target",
        ResourceId="endpoint/" + "e" * 1600,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value null at 'serviceNamespace' failed to satisfy constraint: Member must not be null"
    ) in message
    assert (
        "at 'resourceId' failed to satisfy constraint: Member must have length less than or "
        "equal to 1600"
    ) in message


def test_application_autoscaling_refuses_an_out_of_range_capacity_buffer(client):
    # PredictiveScalingMaxCapacityBuffer: 0..100 (percent).
    code, message, _, _ = refused(
        client("application-autoscaling"),
        "put_scaling_policy",
        PolicyName="predictive",
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/e/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="PredictiveScaling",
        PredictiveScalingPolicyConfiguration={
            "MetricSpecifications": [
                {
                    "TargetValue": 50.0,
                    "PredefinedMetricPairSpecification": {"PredefinedMetricType": "SageMaker"},
                }
            ],
            "MaxCapacityBuffer": 101,
        },
    )
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value '101' at "
        "'predictiveScalingPolicyConfiguration.maxCapacityBuffer' failed to satisfy constraint: "
        "Member must have value less than or equal to 100"
    )


# --- Secrets Manager (json protocol) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "Value null at 'secretId' failed to satisfy constraint: Member must not be null"),
        (
            {"SecretId": ""},
            "Value '' at 'secretId' failed to satisfy constraint: Member must have length "
            "greater than or equal to 1",
        ),
        (
            {"SecretId": "s" * 2049},
            "at 'secretId' failed to satisfy constraint: Member must have length less than or "
            "equal to 2048",
        ),
    ],
    ids=["missing", "empty", "too-long"],
)
def test_secrets_manager_refuses_a_bad_secret_id(client, params, expected):
    code, message, status, _ = refused(client("secretsmanager"), "get_secret_value", **params)
    assert (code, status) == ("ValidationException", 400)
    assert expected in message


def test_secrets_manager_refuses_a_bad_enum_pattern_and_range(client):
    code, message, _, _ = refused(
        client("secretsmanager"),
        "list_secrets",
        MaxResults=101,
        SortOrder="ascending",
        Filters=[{"Key": "name", "Values": ["a,b"]}],
    )
    assert code == "ValidationException"
    assert message.startswith("3 validation errors detected: ")
    assert "Value '101' at 'maxResults'" in message
    assert (
        "Value 'ascending' at 'sortOrder' failed to satisfy constraint: Member must satisfy "
        "enum value set: [asc, desc]"
    ) in message
    assert (
        "at 'filters.1.member.values' failed to satisfy constraint: Member must satisfy "
        "constraint: [Member must satisfy regular expression pattern: "
    ) in message


# --- STS (query protocol) ---------------------------------------------------------------------

ROLE = "arn:aws:iam::222222222222:role/mmeops-deployer"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"RoleArn": ROLE, "RoleSessionName": "dependabot[bot]"},
            "Value 'dependabot[bot]' at 'roleSessionName' failed to satisfy constraint: Member "
            "must satisfy regular expression pattern: [\\w+=,.@-]*",
        ),
        (
            # Java's \w is ASCII-only: a letter outside ASCII breaks the pattern on AWS.
            {"RoleArn": ROLE, "RoleSessionName": "équipe"},
            "Value 'équipe' at 'roleSessionName' failed to satisfy constraint",
        ),
        (
            {"RoleArn": ROLE, "RoleSessionName": "s" * 65},
            "at 'roleSessionName' failed to satisfy constraint: Member must have length less "
            "than or equal to 64",
        ),
        (
            {"RoleSessionName": "mmeops"},
            "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"RoleArn": ROLE, "RoleSessionName": "mmeops", "DurationSeconds": 60},
            "Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value "
            "greater than or equal to 900",
        ),
    ],
    ids=["pattern", "non-ascii-word", "too-long", "missing", "out-of-range"],
)
def test_sts_refuses_a_bad_assume_role_with_validation_error(client, params, expected):
    code, message, status, error = refused(client("sts"), "assume_role", **params)
    assert (code, status, error.get("Type")) == ("ValidationError", 400, "Sender")
    assert message.startswith("1 validation error detected: ")
    assert expected in message


def test_sts_refuses_a_tag_outside_the_enum_free_pattern(client):
    # Tags are flattened on the query protocol as Tags.member.1.Key / .Value.
    code, message, _, _ = refused(
        client("sts"),
        "assume_role",
        RoleArn=ROLE,
        RoleSessionName="mmeops",
        Tags=[{"Key": "team", "Value": "ml,ops"}],
    )
    assert code == "ValidationError"
    assert (
        "Value 'ml,ops' at 'tags.1.member.value' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"
    ) in message


# --- SNS (query protocol): SNS answers with its own InvalidParameter --------------------------
# botocore's SNS model: InvalidParameterException, code InvalidParameter, "Indicates that a
# request parameter does not comply with the associated constraints"; message form
# `Invalid parameter: <Name> Reason: ...` (repost.aws knowledge center,
# "sns-invalid-parameter-error-api-call").


def test_sns_refuses_a_missing_message_and_a_too_long_tag_key(client):
    sns = client("sns")
    code, message, status, _ = refused(sns, "publish", TopicArn="arn:aws:sns:us-east-1:1:t")
    assert (code, status) == ("InvalidParameter", 400)
    assert message == (
        "Invalid parameter: Message Reason: Value null at 'message' failed to satisfy "
        "constraint: Member must not be null"
    )
    code, message, _, _ = refused(
        sns, "create_topic", Name=f"strict-{UID}", Tags=[{"Key": "k" * 129, "Value": "v"}]
    )
    assert code == "InvalidParameter"
    assert message.startswith("Invalid parameter: Tags Reason: ")
    assert (
        "at 'tags.1.member.key' failed to satisfy constraint: Member must have length less "
        "than or equal to 128"
    ) in message


# --- S3 (rest-xml): S3 answers a bad argument its own way ------------------------------------


@pytest.fixture(scope="module")
def bucket(client):
    name = f"strict-{UID}"
    passes(client("s3"), "create_bucket", Bucket=name)
    return name


def test_s3_refuses_a_storage_class_outside_the_enum(client, bucket):
    code, _, status, error = refused(
        client("s3"), "put_object", Bucket=bucket, Key="k", Body=b"x", StorageClass="CHEAP"
    )
    assert (code, status) == ("InvalidStorageClass", 400)
    assert error["Message"] == "The storage class you specified is not valid"
    assert client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_s3_refuses_an_encryption_outside_the_enum_naming_the_header(client, bucket):
    code, message, status, error = refused(
        client("s3"), "put_object", Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="rot13"
    )
    assert (code, status) == ("InvalidArgument", 400)
    assert (error["ArgumentName"], error["ArgumentValue"]) == (
        "x-amz-server-side-encryption",
        "rot13",
    )
    assert "Value 'rot13' at 'serverSideEncryption'" in message


def test_s3_refuses_a_copy_source_that_breaks_its_pattern(client, bucket):
    # CopySource: pattern \/?.+\/.+ (a bucket and a key).
    code, _, _, error = refused(
        client("s3"), "copy_object", Bucket=bucket, Key="k2", CopySource="just-a-bucket"
    )
    assert code == "InvalidArgument"
    assert error["ArgumentName"] == "x-amz-copy-source"


def test_s3_refuses_a_bad_enum_inside_an_xml_body(client):
    # CreateBucketConfiguration.LocationConstraint travels in the XML payload.
    code, _, _, error = refused(
        client("s3"),
        "create_bucket",
        Bucket=f"strict-loc-{UID}",
        CreateBucketConfiguration={"LocationConstraint": "mars-north-1"},
    )
    assert code == "InvalidLocationConstraint"
    assert error["Message"] == "The specified location-constraint is not valid"
    assert error["ArgumentValue"] == "mars-north-1"
    # Refused before moto: the bucket does not exist.
    with pytest.raises(ClientError, match="404"):
        client("s3").head_bucket(Bucket=f"strict-loc-{UID}")


# --- valid requests of every service pass untouched ------------------------------------------


def test_valid_requests_of_every_service_pass_and_moto_answers_them(client, bucket):
    s3 = client("s3")
    passes(s3, "put_object", Bucket=bucket, Key="a/b.txt", Body=b"hello", StorageClass="STANDARD")
    passes(s3, "copy_object", Bucket=bucket, Key="a/c.txt", CopySource=f"{bucket}/a/b.txt")
    listed = passes(s3, "list_objects_v2", Bucket=bucket, Prefix="a/")
    assert [o["Key"] for o in listed["Contents"]] == ["a/b.txt", "a/c.txt"]
    assert passes(s3, "get_object", Bucket=bucket, Key="a/c.txt")["Body"].read() == b"hello"
    passes(s3, "delete_objects", Bucket=bucket, Delete={"Objects": [{"Key": "a/c.txt"}]})

    sts = client("sts")
    creds = passes(sts, "assume_role", RoleArn=ROLE, RoleSessionName="mmeops-strict")
    assert creds["Credentials"]["AccessKeyId"]
    passes(sts, "get_caller_identity")

    secrets = client("secretsmanager")
    passes(secrets, "create_secret", Name=f"strict/{UID}", SecretString="value")
    got = passes(secrets, "get_secret_value", SecretId=f"strict/{UID}")
    assert got["SecretString"] == "value"

    scaling = client("application-autoscaling")
    resource = f"endpoint/strict-{UID}/variant/AllTraffic"
    passes(
        scaling,
        "register_scalable_target",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    targets = passes(
        scaling, "describe_scalable_targets", ServiceNamespace="sagemaker", ResourceIds=[resource]
    )
    assert [t["ResourceId"] for t in targets["ScalableTargets"]] == [resource]

    sns = client("sns")
    topic = passes(sns, "create_topic", Name=f"strict-{UID}")["TopicArn"]
    passes(sns, "publish", TopicArn=topic, Message="hello", Subject="strict")

    sm = client("sagemaker")
    passes(sm, "list_model_package_groups", MaxResults=100)


# --- the product's error handling meets a refusal --------------------------------------------


def test_a_product_command_refused_by_the_server_ends_with_one_line(stack, repo_copy):
    """`tune --backend sagemaker` with a static hyperparameter longer than SageMaker takes
    (botocore HyperParameterValue: at most 2500 characters; mmeops's config does not limit it):
    the refusal reaches mmeops.aws as a ClientError and the user sees one line naming the call,
    AWS's code and the member, never a traceback; nothing is recorded."""
    import shutil

    from mmeops.aws import for_account
    from mmeops.cli import main
    from mmeops.config.repo import load_repo
    from mmeops.extract.run import extract
    from mmeops.tune import history

    name = f"strict-{UID}"
    shutil.copytree(repo_copy / "models" / "diabetes-progression", repo_copy / "models" / name)
    path = repo_copy / "models" / name / "model.yaml"
    text = path.read_text().replace("name: diabetes-progression", f"name: {name}")
    long_value = "[" + ",".join(["[0,1]"] * 500) + "]"  # 2,501 characters
    text = text.replace("  static_hyperparameters:\n", "  static_hyperparameters:\n"
                        f'    interaction_constraints: "{long_value}"\n')  # fmt: skip
    path.write_text(text)
    extract(load_repo(repo_copy), name)
    with strict.expecting() as log:
        result = CliRunner().invoke(
            main, ["--repo", str(repo_copy), "tune", name, "--backend", "sagemaker"]
        )
    assert [v.operation for v in log.violations] == ["CreateHyperParameterTuningJob"]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert (
        "create_hyper_parameter_tuning_job failed: ValidationException: 1 validation error "
        "detected: Value '"
    ) in errors[0] and "at 'trainingJobDefinition.staticHyperParameters'" in errors[0]
    repo = load_repo(repo_copy)
    t = repo.settings.training
    training = for_account(t.account_id, t.region, t.role_arn)
    assert history.read(training, repo.settings.bucket, name) == []


# --- the whole suite ----------------------------------------------------------------------------


@pytest.mark.suite_wide
def test_every_request_the_suite_sent_was_valid():
    """Every request the embedded AWS received this session (product, stack, tests; in this
    process or a CLI child) satisfied its service's model, outside `expecting()` blocks."""
    if strict.checked() < 300:  # a full run checks thousands; a single module a few dozen
        pytest.skip(f"only {strict.checked()} requests checked: run the whole suite")
    print(f"requests checked by strict.py: {strict.summary()}")
    assert [f"{v.service}:{v.operation}: {v.message}" for v in strict.violations()] == []
