"""Least privilege: docs/iam/ grants every AWS action the code calls, and nothing else.

Statically, every `call("service", "operation")`, `paginate(...)` and S3 helper in
scripts/mmeops/ is mapped to its IAM action (botocore's service model gives the wire name) and
checked against the policy of the role that runs it. Each policy is checked for wildcards, and
infra/bootstrap.yaml must carry the very same policies. The calls the test suite really made
are checked in tests/iam/test_least_privilege.py, which runs last.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from functools import cache
from pathlib import Path

import botocore.session
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scripts" / "mmeops"
IAM = ROOT / "docs" / "iam"
POLICIES = (
    "training-role",
    "deployer-role",
    "reader-role",
    "registry-reader-role",
    "registry-approver-role",
    "monitor-role",
    "invoker-role",
)

# Which role runs a module's calls. Calls on a `registry` object go to the Model Registry in
# the training account: through the training role from the training stages, through the
# registry approver role from deploy/ (apply; plans read through the registry reader role).
TRAINING_MODULES = {"artifact", "registry", "notify", "jsonl", "sample"}  # shared, training bucket
# Every module of a stage runs as that stage's role; the embedded stack (stack/) and its local
# endpoint stand in for AWS itself, and the demo seeds and inspects the embedded world as its
# operator: no role runs them.
TRAINING_STAGES = ("extract", "tune", "register", "retrain", "schedule")
STAGE_ROLES = {
    **dict.fromkeys(TRAINING_STAGES, "training-role"),
    "deploy": "deployer-role",
    "stack": None,
    "demo": None,
}
# monitor/ runs as the monitor role (registry, baselines, warehouse secret, monitoring/ in the
# training bucket); its only calls into an environment's account read the manifest and the
# served artifact (s3:GetObject) through the reader role, which trusts the monitor role.
STAGE_ROLES["monitor"] = "monitor-role"
# The front door runs as its Lambda's role (infra/invoker.yaml); the capture it writes is read
# back by `mmeops canary` with the environment's reader role (plan comments run as it).
STAGE_ROLES["invoker"] = "invoker-role"
MODULE_ROLES = {"datacapture": "reader-role"}

# The S3 helpers of mmeops.aws and the IAM actions they need.
S3_HELPERS = {
    "get_bytes": {"s3:GetObject"},
    "head": {"s3:GetObject"},
    "put_bytes": {"s3:PutObject"},
    "upload_file": {"s3:PutObject"},
    "download_file": {"s3:GetObject"},
    "list_objects": {"s3:ListBucket"},
}
# S3 operations whose IAM action has another name (the others are `s3:<Operation>`).
S3_ACTIONS = {
    "ListObjectsV2": {"s3:ListBucket"},
    "HeadObject": {"s3:GetObject"},
    "CopyObject": {"s3:GetObject", "s3:PutObject"},  # read the source, write the copy
    "CreateMultipartUpload": {"s3:PutObject"},  # upload_file of a large file
    "UploadPart": {"s3:PutObject"},
    "CompleteMultipartUpload": {"s3:PutObject"},
    "GetObjectAttributes": {"s3:GetObject"},
}
# Services whose IAM prefix differs from botocore's name.
IAM_PREFIX = {"sagemaker-runtime": "sagemaker"}
# Operations AWS authorizes without any policy.
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Granted although the code never calls them by name: AWS checks them on the caller behind
# another call (PassRole for CreateModel/CreateHyperParameterTuningJob, KMS for SSE-KMS reads
# and writes, CloudWatch alarms and the service-linked role for target-tracking policies,
# AbortMultipartUpload when upload_file gives up).
IMPLIED = {
    # The Lambda service writes the front door's logs with its role (infra/invoker.yaml).
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "iam:PassRole",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DeleteAlarms",
    "iam:CreateServiceLinkedRole",
    "s3:AbortMultipartUpload",
}
# Granted for what the issue asks a role to do before any code calls it (none now: the
# monitor's metrics, monitor/metrics.py, call cloudwatch:PutMetricData).
AHEAD_OF_THE_CODE: set[str] = set()
# Actions AWS supports only on `"Resource": "*"` (the Service Authorization Reference lists
# no resource type for them): list calls and Application Auto Scaling's Describe calls.
STAR_ONLY = {
    "sagemaker:ListEndpointConfigs",
    "sagemaker:ListModelPackages",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "cloudwatch:PutMetricData",  # its one condition key, cloudwatch:namespace, narrows it
}


# --- from code to IAM actions ----------------------------------------------------------------


@cache
def _wire_names(service: str) -> dict[str, str]:
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def iam_actions(service: str, operation: str) -> set[str]:
    """IAM actions behind one call; `operation` is the snake_case method or the wire name."""
    wire = _wire_names(service).get(operation, operation)
    assert wire in _wire_names(service).values(), f"{service} has no operation {operation}"
    if service == "s3":
        return S3_ACTIONS.get(wire, {f"s3:{wire}"})
    return {f"{IAM_PREFIX.get(service, service)}:{wire}"}


def static_calls() -> list[tuple[str, str, set[str]]]:
    """(module, receiver, IAM actions) for every AWS call written in scripts/mmeops/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).with_suffix("").as_posix()  # "tune/run"
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name, receiver, args = node.func.attr, ast.unparse(node.func.value), node.args
            if name in ("call", "paginate") and len(args) >= 2:
                if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2]):
                    found.append((module, receiver, iam_actions(args[0].value, args[1].value)))
            elif name in S3_HELPERS and module != "aws":
                found.append((module, receiver, S3_HELPERS[name]))
    return found


def role_of(module: str, receiver: str) -> str | None:
    stage = module.partition("/")[0]
    if stage == "stack" or module == "aws":
        return None
    if "registry" in receiver and stage == "deploy":
        return "registry-approver-role"
    if "registry" in receiver or module in TRAINING_MODULES:
        return "training-role"
    if module in MODULE_ROLES:
        return MODULE_ROLES[module]
    assert stage in STAGE_ROLES, f"{module}.py calls AWS: add it to a role above"
    return STAGE_ROLES[stage]


# --- policies ----------------------------------------------------------------------------------


@cache
def policy(name: str) -> dict:
    return json.loads((IAM / f"{name}.json").read_text())


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def granted(name: str) -> set[str]:
    return {
        a for s in policy(name)["Statement"] if s["Effect"] == "Allow" for a in _listed(s["Action"])
    }


def allows(name: str, action: str) -> bool:
    if action in NEEDS_NO_PERMISSION:
        return True
    return any(fnmatch.fnmatchcase(action.lower(), g.lower()) for g in granted(name))


def _fill(pattern: str, variables: dict[str, str]) -> str:
    """A policy's `${Name}` variables replaced by their values; unknown ones match anything."""
    return re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: variables.get(m.group(1), "*"), pattern)


def allows_on(
    name: str, action: str, arn: str, variables: dict[str, str], prefix: str | None = None
) -> bool:
    """Whether policy `name` allows `action` on the resource `arn` (and, for s3:ListBucket,
    on the listed `prefix`, which the statement's `s3:prefix` condition may restrict)."""
    for statement in policy(name)["Statement"]:
        actions = _listed(statement["Action"])
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        resources = [_fill(r, variables).lower() for r in _listed(statement["Resource"])]
        if not any(fnmatch.fnmatchcase(arn.lower(), r) for r in resources):
            continue
        allowed = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if (
            allowed
            and prefix is not None
            and not any(fnmatch.fnmatchcase(prefix, _fill(p, variables)) for p in allowed)
        ):
            continue
        return True
    return False


# --- the checks --------------------------------------------------------------------------------


def test_every_aws_call_in_the_code_is_allowed_by_its_roles_policy():
    calls = static_calls()
    assert len(calls) > 40  # the scan found the code's calls
    missing = sorted(
        f"{module}.py ({receiver}): {action} not in {role}.json"
        for module, receiver, actions in calls
        if (role := role_of(module, receiver))
        for action in actions
        if not allows(role, action)
    )
    assert missing == []


def test_the_policies_grant_nothing_the_code_does_not_call():
    used = {a for _, _, actions in static_calls() for a in actions} | {"sts:AssumeRole"}
    for name in POLICIES:
        unused = sorted(granted(name) - used - IMPLIED - AHEAD_OF_THE_CODE)
        assert unused == [], f"{name}.json grants actions nothing calls: {unused}"


def test_deployers_reach_the_registry_only_through_the_approver_role():
    registry = {a for a in granted("deployer-role") | granted("reader-role") if "ModelPackage" in a}
    assert registry == set()
    assert "sts:AssumeRole" in granted("deployer-role")
    assert "sagemaker:UpdateModelPackage" in granted("registry-approver-role")  # approval


@pytest.mark.parametrize("name", [*POLICIES, "github-oidc-trust"])
def test_no_policy_grants_a_wildcard_action_or_a_star_resource_beyond_the_exceptions(name):
    for statement in policy(name)["Statement"]:
        actions = _listed(statement["Action"])
        if statement["Effect"] == "Deny":  # a deny only narrows: it may name every resource
            continue
        assert statement["Effect"] == "Allow"
        for action in actions:
            assert action != "*" and "*" not in action, f"{name}: wildcard action {action}"
        if "Principal" in statement:  # a trust policy names its principal, not resources
            continue
        resources = _listed(statement["Resource"])
        if "*" in resources:
            assert resources == ["*"] and set(actions) <= STAR_ONLY, (
                f"{name}: {statement['Sid']} grants {actions} on every resource"
            )
        for resource in resources:
            # An ARN written out, or one the template is given or makes (`${KeyArn}`,
            # `${LogGroup.Arn}:*`): never a bare name.
            arn_ref = re.fullmatch(r"\$\{[A-Za-z]+(\.Arn|Arn)\}(:\*)?", resource)
            assert resource == "*" or resource.startswith("arn:${AWS::Partition}:") or arn_ref, (
                resource
            )


def test_the_oidc_trust_admits_one_repository_and_environment_only():
    (statement,) = policy("github-oidc-trust")["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    subject = condition["token.actions.githubusercontent.com:sub"]
    assert subject == "repo:${GitHubOrg}/${GitHubRepo}:environment:${GitHubEnvironment}"
    assert "StringLike" not in statement["Condition"]  # no wildcard subjects


# --- the CloudFormation template carries the same policies -------------------------------------


def _unsub(value):
    """The template writes `{"Fn::Sub": "..."}` where the docs write the string itself."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return value["Fn::Sub"]
    if isinstance(value, dict):
        return {k: _unsub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsub(v) for v in value]
    return value


@cache
def template() -> dict:
    return yaml.safe_load((ROOT / "infra" / "bootstrap.yaml").read_text())


def _role(logical_id: str) -> dict:
    return template()["Resources"][logical_id]["Properties"]


@pytest.mark.parametrize(
    ("logical_id", "name"),
    [("TrainingRole", "training-role"), ("DeployerRole", "deployer-role"),
     ("ReaderRole", "reader-role"), ("RegistryReaderRole", "registry-reader-role"),
     ("RegistryApproverRole", "registry-approver-role"), ("MonitorRole", "monitor-role")],
)  # fmt: skip
def test_the_bootstrap_template_grants_each_role_exactly_the_documented_policy(logical_id, name):
    (inline,) = _role(logical_id)["Policies"]
    assert _unsub(inline["PolicyDocument"]) == policy(name)
    if logical_id.startswith("Registry"):  # assumed by roles only, never through OIDC
        return
    trust = _unsub(_role(logical_id)["AssumeRolePolicyDocument"])["Statement"]
    oidc = policy("github-oidc-trust")["Statement"][0]
    assert {**oidc, "Condition": None} in [{**s, "Condition": None} for s in trust]


def test_the_bootstrap_bucket_is_versioned_encrypted_and_private():
    bucket = template()["Resources"]["ArtifactBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4


def test_the_invoker_template_grants_its_role_exactly_the_documented_policy():
    """infra/invoker.yaml's role (the front door's Lambda) is docs/iam/invoker-role.json: read
    the manifest, invoke the endpoint, write capture, the bucket key through S3, its logs."""
    invoker = yaml.safe_load((ROOT / "infra" / "invoker.yaml").read_text())
    (inline,) = invoker["Resources"]["Role"]["Properties"]["Policies"]

    def refs(value):
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return "${" + value["Ref"] + "}"
        if isinstance(value, dict):
            return {k: refs(v) for k, v in value.items()}
        if isinstance(value, list):
            return [refs(v) for v in value]
        return value

    assert refs(_unsub(inline["PolicyDocument"])) == policy("invoker-role")
