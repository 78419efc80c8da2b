"""The embedded stack authorizes every request as IAM does: each rule shown with a request it
allows and a mutation (a statement removed, a condition broken, a trust changed) it refuses.

Roles here are the test's own, in a lab account of its own (created by the stack's admin
identity); tests/stack/test_iam_paths.py runs the shipped policies of infra/bootstrap.yaml.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid

import pytest

from mmeops.errors import AwsError, NotFound
from mmeops.stack.iam import github_oidc, middleware, sessions
from mmeops.stack.moto_server import credentials_aws, runner_aws

REGION = "us-east-1"
LAB = "910000000001"
OTHER = "910000000002"


def _doc(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class Lab:
    def __init__(self, stack, account: str = LAB):
        self.stack, self.account = stack, account
        self.admin = stack.admin(account)
        self.uid = uuid.uuid4().hex[:8]

    def bucket(self, name: str = "b", policy: list[dict] | None = None) -> str:
        bucket = f"lab-{name}-{self.uid}"
        self.admin.call("s3", "create_bucket", Bucket=bucket)
        if policy is not None:
            self.admin.call("s3", "put_bucket_policy", Bucket=bucket, Policy=_doc(policy))
        return bucket

    def role(self, statements: list[dict], trust: list[dict] | None = None, name: str = "r"):
        role = f"{name}-{self.uid}"
        trust = trust or [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account}:root"},
             "Action": "sts:AssumeRole"}
        ]  # fmt: skip
        arn = self.admin.call(
            "iam", "create_role", RoleName=role, AssumeRolePolicyDocument=_doc(trust)
        )["Role"]["Arn"]
        if statements:  # IAM refuses a policy without statements
            self.set_policy(arn, statements)
        return arn

    def set_policy(self, role_arn: str, statements: list[dict]) -> None:
        self.admin.call("iam", "put_role_policy", RoleName=role_arn.rsplit("/", 1)[1],
                        PolicyName="p", PolicyDocument=_doc(statements))  # fmt: skip

    def as_role(self, role_arn: str, url: str | None = None, **kwargs):
        """The role's session, from the runner (the first hop), on moto or on `url`."""
        creds = runner_aws(self.stack.moto_url, REGION).call(
            "sts", "assume_role", RoleArn=role_arn, RoleSessionName="lab", **kwargs
        )["Credentials"]
        return credentials_aws(url or self.stack.moto_url, REGION, role_arn.split(":")[4], creds)


def _s3(actions: list[str], resource: str, **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def refused(fn, *args, **kwargs) -> str:
    """The refusal's message; fails if the call went through."""
    with middleware.expecting() as log, pytest.raises(AwsError) as err:
        fn(*args, **kwargs)
    assert log.denied, f"refused, but not by IAM: {err.value}"
    return str(err.value)


@pytest.fixture
def lab(stack) -> Lab:
    return Lab(stack)


# --- identity policies (reference_policies_evaluation-logic.html) -----------------------------


def test_an_identity_policy_allows_and_its_removal_refuses_with_awss_message(lab):
    bucket = lab.bucket()
    lab.admin.put_bytes(bucket, "k", b"x")
    arn = lab.role([_s3(["s3:GetObject"], f"arn:aws:s3:::{bucket}/*")])
    assert lab.as_role(arn).get_bytes(bucket, "k")[0] == b"x"
    lab.set_policy(arn, [_s3(["s3:PutObject"], f"arn:aws:s3:::{bucket}/*")])  # the mutation
    message = refused(lab.as_role(arn).get_bytes, bucket, "k")
    # S3's enhanced AccessDenied message (troubleshoot_access-denied.html).
    assert (
        f"User: arn:aws:sts::{LAB}:assumed-role/{arn.rsplit('/', 1)[1]}/lab is not authorized to "
        f"perform: s3:GetObject on resource: arn:aws:s3:::{bucket}/k because no identity-based "
        "policy allows the s3:GetObject action"
    ) in message


def test_an_explicit_deny_wins_over_an_allow(lab):
    bucket = lab.bucket()
    lab.admin.put_bytes(bucket, "k", b"x")
    allow = _s3(["s3:*"], f"arn:aws:s3:::{bucket}/*")
    arn = lab.role([allow])
    lab.as_role(arn).get_bytes(bucket, "k")
    lab.set_policy(arn, [allow, {**allow, "Effect": "Deny", "Action": "s3:GetObject"}])
    assert "explicit deny in an identity-based policy" in refused(
        lab.as_role(arn).get_bytes, bucket, "k"
    )


def test_not_action_and_not_resource(lab):
    bucket = lab.bucket()
    lab.admin.put_bytes(bucket, "k", b"x")
    lab.admin.put_bytes(bucket, "secret/k", b"s")
    arn = lab.role(
        [{"Effect": "Allow", "NotAction": "s3:PutObject",
          "NotResource": f"arn:aws:s3:::{bucket}/secret/*"}]
    )  # fmt: skip
    aws = lab.as_role(arn)
    assert aws.get_bytes(bucket, "k")[0] == b"x"
    refused(aws.get_bytes, bucket, "secret/k")  # NotResource excludes it
    refused(aws.put_bytes, bucket, "k2", b"y")  # NotAction excludes it


def test_a_condition_on_s3_prefix_and_policy_variables(lab):
    # s3:prefix is the listed prefix (amazon-s3-policy-keys.html); ${aws:PrincipalAccount} a
    # policy variable (reference_policies_variables.html).
    bucket = lab.bucket()
    arn = lab.role(
        [_s3(["s3:ListBucket"], f"arn:aws:s3:::{bucket}",
             Condition={"StringLike": {"s3:prefix": ["${aws:PrincipalAccount}/*"]}})]
    )  # fmt: skip
    aws = lab.as_role(arn)
    assert aws.list_objects(bucket, f"{LAB}/") == []
    refused(aws.list_objects, bucket, "elsewhere/")
    refused(aws.list_objects, bucket, "")  # no prefix sent: s3:prefix is ""


# --- operations that need several actions (the operation table) ------------------------------


def test_copy_object_needs_get_on_the_source_and_put_on_the_target(lab):
    # API_CopyObject.html, "Permissions".
    src, dst = lab.bucket("src"), lab.bucket("dst")
    lab.admin.put_bytes(src, "k", b"x")
    get = _s3(["s3:GetObject"], f"arn:aws:s3:::{src}/*")
    put = _s3(["s3:PutObject"], f"arn:aws:s3:::{dst}/*")
    arn = lab.role([get, put])
    copy = {"Bucket": dst, "Key": "k", "CopySource": f"{src}/k"}
    lab.as_role(arn).call("s3", "copy_object", **copy)
    lab.set_policy(arn, [put])
    assert "s3:GetObject" in refused(lab.as_role(arn).call, "s3", "copy_object", **copy)
    lab.set_policy(arn, [get])
    assert "s3:PutObject" in refused(lab.as_role(arn).call, "s3", "copy_object", **copy)


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(lab):
    # API_HeadObject.html / API_GetObject.html "Permissions": without s3:ListBucket, S3
    # answers 403 Access Denied for a key that does not exist.
    bucket = lab.bucket()
    get = _s3(["s3:GetObject"], f"arn:aws:s3:::{bucket}/*")
    arn = lab.role([get])
    refused(lab.as_role(arn).head, bucket, "absent")
    lab.set_policy(arn, [get, _s3(["s3:ListBucket"], f"arn:aws:s3:::{bucket}")])
    assert lab.as_role(arn).head(bucket, "absent") is None  # 404: NotFound


def test_sse_kms_writes_need_generate_data_key_on_the_key(lab):
    # UsingKMSEncryption.html "Permissions": kms:GenerateDataKey to write, kms:Decrypt to read.
    key = lab.admin.call("kms", "create_key", Description="lab")["KeyMetadata"]
    bucket = lab.bucket()
    put = _s3(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/*")
    kms = {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
           "Resource": key["Arn"]}  # fmt: skip
    arn = lab.role([put, kms])
    aws = lab.as_role(arn)
    aws.put_bytes(bucket, "k", b"x", kms_key_id=key["KeyId"])
    assert aws.get_bytes(bucket, "k")[0] == b"x"
    lab.set_policy(arn, [put])
    assert "kms:GenerateDataKey" in refused(
        lab.as_role(arn).put_bytes, bucket, "k2", b"x", kms_key_id=key["KeyId"]
    )
    assert "kms:Decrypt" in refused(lab.as_role(arn).get_bytes, bucket, "k")


def test_pass_role_is_checked_with_the_service_it_is_passed_to(lab):
    # id_roles_use_passrole.html: iam:PassRole, condition key iam:PassedToService.
    passed = f"arn:aws:iam::{LAB}:role/exec-{lab.uid}"
    model = {"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"}
    to_sagemaker = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    pass_role = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": passed,
                 "Condition": to_sagemaker}  # fmt: skip
    arn = lab.role([model, pass_role])
    params = {
        "ModelName": f"m-{lab.uid}",
        "ExecutionRoleArn": passed,
        "PrimaryContainer": {"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"},
    }
    lab.as_role(arn).call("sagemaker", "create_model", **params)
    broken = {
        **pass_role,
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    }
    lab.set_policy(arn, [model, broken])
    message = refused(lab.as_role(arn).call, "sagemaker", "create_model",
                      **{**params, "ModelName": f"m2-{lab.uid}"})  # fmt: skip
    # JSON protocol: AccessDeniedException with the same sentence.
    assert "AccessDeniedException" in message and "iam:PassRole" in message


def test_create_endpoint_needs_the_endpoint_and_the_endpoint_config(lab):
    # The SAR lists endpoint* and endpoint-config* as required for CreateEndpoint.
    name = f"ep-{lab.uid}"
    endpoint = f"arn:aws:sagemaker:{REGION}:{LAB}:endpoint/{name}"
    config = f"arn:aws:sagemaker:{REGION}:{LAB}:endpoint-config/{name}-c"
    image = {"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"}
    role = f"arn:aws:iam::{LAB}:role/x"
    lab.admin.call("sagemaker", "create_model", ModelName=f"{name}-m", ExecutionRoleArn=role,
                   PrimaryContainer=image)  # fmt: skip
    lab.admin.call("sagemaker", "create_endpoint_config", EndpointConfigName=f"{name}-c",
                   ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{name}-m",
                                        "InitialInstanceCount": 1,
                                        "InstanceType": "ml.m5.large"}])  # fmt: skip
    only_endpoint = {"Effect": "Allow", "Action": "sagemaker:CreateEndpoint", "Resource": endpoint}
    arn = lab.role([only_endpoint])
    create = {"EndpointName": name, "EndpointConfigName": f"{name}-c"}
    assert f"on resource: {config}" in refused(
        lab.as_role(arn).call, "sagemaker", "create_endpoint", **create
    )
    lab.set_policy(arn, [{**only_endpoint, "Resource": [endpoint, config]}])
    lab.as_role(arn).call("sagemaker", "create_endpoint", **create)


# --- resource policies and accounts (reference_policies_evaluation-logic-cross-account.html) ---


def test_cross_account_needs_the_identity_policy_and_the_bucket_policy(stack, lab):
    other = Lab(stack, OTHER)
    get = _s3(["s3:GetObject"], "arn:aws:s3:::lab-*/*")
    arn = lab.role([get])
    bucket = other.bucket()
    other.admin.put_bytes(bucket, "k", b"x")
    assert "no resource-based policy allows" in refused(lab.as_role(arn).get_bytes, bucket, "k")
    grant = {"Effect": "Allow", "Principal": {"AWS": LAB}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"}  # fmt: skip
    other.admin.call("s3", "put_bucket_policy", Bucket=bucket, Policy=_doc([grant]))
    assert lab.as_role(arn).get_bytes(bucket, "k")[0] == b"x"
    lab.set_policy(arn, [_s3(["s3:PutObject"], "*")])  # the caller's side removed
    assert "no identity-based policy allows" in refused(lab.as_role(arn).get_bytes, bucket, "k")


def test_a_resource_policy_deny_wins(lab):
    bucket = lab.bucket(policy=[{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                 "Resource": "arn:aws:s3:::lab-*/private/*"}])  # fmt: skip
    lab.admin.put_bytes(bucket, "private/k", b"x")
    arn = lab.role([_s3(["s3:GetObject"], "*")])
    assert "explicit deny in a resource-based policy" in refused(
        lab.as_role(arn).get_bytes, bucket, "private/k"
    )


# --- trust policies, web identity and sessions -----------------------------------------------


def test_assume_role_needs_the_trust_policy(lab):
    caller = lab.role([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    target = lab.role([], trust=[{"Effect": "Allow", "Principal": {"AWS": caller},
                                  "Action": "sts:AssumeRole"}], name="t")  # fmt: skip
    aws = lab.as_role(caller)
    aws.call("sts", "assume_role", RoleArn=target, RoleSessionName="chained")
    lab.admin.call("iam", "update_assume_role_policy", RoleName=target.rsplit("/", 1)[1],
                   PolicyDocument=_doc([{"Effect": "Allow", "Principal": {"AWS": OTHER},
                                         "Action": "sts:AssumeRole"}]))  # fmt: skip
    refused(aws.call, "sts", "assume_role", RoleArn=target, RoleSessionName="chained")


def test_role_chaining_is_capped_at_one_hour(lab):
    # id_roles_terms-and-concepts.html, "Role chaining": at most one hour.
    caller = lab.role([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    target = lab.role([], trust=[{"Effect": "Allow", "Principal": {"AWS": caller},
                                  "Action": "sts:AssumeRole"}], name="t")  # fmt: skip
    lab.admin.call(
        "iam", "update_role", RoleName=target.rsplit("/", 1)[1], MaxSessionDuration=43200
    )
    aws = lab.as_role(caller)
    assume = {"RoleArn": target, "RoleSessionName": "chained"}
    with pytest.raises(AwsError, match="1 hour session limit"):
        aws.call("sts", "assume_role", **assume, DurationSeconds=7200)
    aws.call("sts", "assume_role", **assume, DurationSeconds=3600)


def test_a_shortened_session_says_when_it_ends_as_sts_does(lab):
    # STS API reference, AssumeRole: Credentials.Expiration is when the granted session ends;
    # a chained session is granted at most one hour (IAM User Guide, "Role chaining"), and the
    # stack's cap shortens it further. moto writes now + the requested DurationSeconds.
    caller = lab.role([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    target = lab.role([], trust=[{"Effect": "Allow", "Principal": {"AWS": caller},
                                  "Action": "sts:AssumeRole"}], name="t")  # fmt: skip
    aws = lab.as_role(caller)

    def granted() -> tuple[float, float]:
        """Seconds from before and from after the call to the session's end: STS's clock
        reads between the two (measured from before alone, a late answer passed the hour)."""
        before = datetime.datetime.now(datetime.UTC)
        creds = aws.call("sts", "assume_role", RoleArn=target, RoleSessionName="chained")
        after = datetime.datetime.now(datetime.UTC)
        ends = creds["Credentials"]["Expiration"]
        return (ends - before).total_seconds(), (ends - after).total_seconds()

    from_before, from_after = granted()
    assert from_before > 3500 and from_after <= 3600
    sessions.set_session_cap(5.0)
    try:
        from_before, from_after = granted()
    finally:
        sessions.set_session_cap(None)
    assert from_before > 0 and from_after <= 6


def test_a_session_expires_and_then_answers_expired_token(lab):
    bucket = lab.bucket()
    arn = lab.role([_s3(["s3:ListBucket"], f"arn:aws:s3:::{bucket}")])
    # The stack's override (MMEOPS_STACK_SESSION_SECONDS); 3 s, so that a loaded machine still
    # makes the first call inside the session.
    sessions.set_session_cap(3.0)
    try:
        aws = lab.as_role(arn)
        issued = time.monotonic()  # at or after the session's start
    finally:
        sessions.set_session_cap(None)
    aws.list_objects(bucket, "")
    time.sleep(max(0.0, issued + 3.2 - time.monotonic()))
    with pytest.raises(AwsError, match="ExpiredToken"):
        aws.list_objects(bucket, "")


def test_web_identity_checks_the_tokens_sub_and_aud_against_the_trust(stack, lab):
    # id_roles_create_for-idp_oidc.html: the trust's conditions on ISSUER:aud and ISSUER:sub.
    sandbox = stack.world.made["222222222222"]  # the shipped template, sandbox's account
    assert sandbox.values["GitHubEnvironment"] == "sandbox"
    role = "arn:aws:iam::222222222222:role/mmeops-deployer"
    any_client = runner_aws(stack.moto_url, REGION)
    creds = github_oidc.assume(any_client, role, environment="sandbox")
    session = credentials_aws(stack.moto_url, REGION, "222222222222", creds)
    assert session.call("sts", "get_caller_identity")["Arn"].endswith(
        "assumed-role/mmeops-deployer/github-actions"
    )
    with pytest.raises(AwsError, match="AccessDenied"), middleware.expecting():
        github_oidc.assume(any_client, role, environment="sandbox-readonly")  # sub changed
    with pytest.raises(AwsError, match="InvalidIdentityToken"):
        github_oidc.assume(any_client, role, environment="sandbox", audience="other")


def test_unknown_keys_are_refused(stack):
    from mmeops.stack.moto_server import credentials_aws as aws_with

    fake = {"AccessKeyId": "ASIAUNKNOWNKEY000001", "SecretAccessKey": "x", "SessionToken": "y"}
    with pytest.raises((AwsError, NotFound), match="InvalidAccessKeyId|InvalidClientTokenId"):
        aws_with(stack.moto_url, REGION, None, fake).list_objects("any-bucket", "")


# --- the whole suite ----------------------------------------------------------------------------


@pytest.mark.suite_wide
def test_no_request_of_the_suite_was_refused_unless_a_test_expected_it():
    """Every request IAM refused this session was inside a test's `expecting()` block: the
    product, run under its roles, met no AccessDenied nobody asked for (issue 23)."""
    if middleware.allowed() < 300:  # a full run authorizes thousands; one module a few dozen
        pytest.skip(f"only {middleware.allowed()} requests authorized: run the whole suite")
    assert [d.message for d in middleware.refusals()] == []


def test_the_local_mme_authorizes_invoke_endpoint(stack, lab):
    """sagemaker-runtime is served by the local MME, not moto: the same IAM check stands in
    front of it. API_runtime_InvokeEndpoint.html and the Service Authorization Reference:
    InvokeEndpoint needs sagemaker:InvokeEndpoint on the endpoint's ARN. Mutation: start the
    MME without `guard=` (stack/embedded.py) and the refused call reaches the endpoint."""
    name = f"lab-ep-{lab.uid}"
    arn = f"arn:aws:sagemaker:{REGION}:{lab.account}:endpoint/{name}"
    reader = lab.role([_s3(["sagemaker:DescribeEndpoint"], arn)], name="describe")
    caller = lab.role([_s3(["sagemaker:InvokeEndpoint"], arn)], name="invoke")

    def invoke(role_arn: str):
        return lab.as_role(role_arn, url=stack.mme_url).call(
            "sagemaker-runtime", "invoke_endpoint", EndpointName=name, Body=b"1",
            ContentType="text/csv", TargetModel="m.tar.gz",
        )  # fmt: skip

    with pytest.raises(AwsError, match="AccessDenied"), middleware.expecting() as log:
        invoke(reader)
    assert [(d.action, d.resource) for d in log.denied] == [("sagemaker:InvokeEndpoint", arn)]
    # Allowed, the call reaches the endpoint, which does not exist.
    with pytest.raises(AwsError, match=f"ValidationError.*Endpoint {name} .*not found"):
        invoke(caller)
