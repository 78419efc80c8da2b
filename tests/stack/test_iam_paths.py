"""The day-one AccessDenied paths (issue 23), on the enforcing stack with the policies of
infra/bootstrap.yaml as shipped, each command run under the role its workflow gives it
(configure-aws-credentials' web-identity exchange, then the roles it chains to):

1. the first `reconcile --apply` in a fresh account: sagemaker:CreateEndpoint / UpdateEndpoint
   require the endpoint AND the endpoint-config (Service Authorization Reference, SageMaker);
2. `--plan` / `--check` read `evaluations/<model>/<job>/sample.json` through the registry
   reader;
5. the execution role publishes metrics (cloudwatch:PutMetricData) and encrypts with a key.

Each test also runs the policy as it was (the mutation) and sees the refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploy.test_reconcile import World
from helpers import isolate
from mmeops import aws
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.stack.iam import decide, github_oidc, middleware
from mmeops.stack.iam.actions import Need
from mmeops.stack.iam.policy import Caller
from mmeops.stack.iam.sessions import Session
from mmeops.stack.moto_server import runner_aws

REGION = "us-east-1"
TRAINING = "111111111111"


def as_workflow(stack, monkeypatch, role_arn: str, environment: str) -> None:
    """This process now runs as a job of `environment` after configure-aws-credentials."""
    creds = github_oidc.assume(
        runner_aws(stack.moto_url, REGION), role_arn, environment=environment
    )
    for name, value in github_oidc.environment_variables(creds).items():
        monkeypatch.setenv(name, value)
    aws.reset_sessions()
    monkeypatch.setattr(aws, "_sessions", {})


def mmeops(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(root), *args])
    return result.exit_code, result.output + str(result.exception or "")


def _policy(stack, account: str, role: str, name: str) -> dict:
    admin = stack.admin(account)
    doc = admin.call("iam", "get_role_policy", RoleName=role, PolicyName=name)["PolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def _put_policy(stack, account: str, role: str, name: str, doc: dict) -> None:
    stack.admin(account).call(
        "iam", "put_role_policy", RoleName=role, PolicyName=name, PolicyDocument=json.dumps(doc)
    )


# --- path 1 --------------------------------------------------------------------------------


def _fresh_sandbox(stack, repo_copy: Path, monkeypatch):
    isolate(repo_copy, "i")
    env = load_repo(repo_copy).envs["sandbox"]
    as_workflow(stack, monkeypatch, env.role_arn, "sandbox")
    return env


def test_the_first_apply_in_a_fresh_account_creates_the_endpoint(stack, repo_copy, monkeypatch):
    env = _fresh_sandbox(stack, repo_copy, monkeypatch)
    code, out = mmeops(repo_copy, "reconcile", "sandbox", "--apply")
    assert code == 0, out
    endpoint = stack.admin(env.account_id).call(
        "sagemaker", "describe_endpoint", EndpointName=env.endpoint.name
    )
    assert endpoint["EndpointStatus"] in ("Creating", "InService")


def test_the_first_apply_fails_with_the_deployer_policy_as_it_was(stack, repo_copy, monkeypatch):
    env = _fresh_sandbox(stack, repo_copy, monkeypatch)
    doc = _policy(stack, env.account_id, "mmeops-deployer", "mmeops-deployer")
    fix = [s for s in doc["Statement"] if s["Sid"] == "EndpointWithItsConfigs"]
    assert fix and ":endpoint-config/" in fix[0]["Resource"]
    doc["Statement"] = [s for s in doc["Statement"] if s not in fix]  # as it was
    _put_policy(stack, env.account_id, "mmeops-deployer", "mmeops-deployer", doc)
    with middleware.expecting() as log:
        code, out = mmeops(repo_copy, "reconcile", "sandbox", "--apply")
    assert code != 0
    assert "not authorized to perform: sagemaker:CreateEndpoint on resource: " in out
    assert f":endpoint-config/{env.endpoint.name}-" in out
    assert [d.action for d in log.denied] == ["sagemaker:CreateEndpoint"]


# --- path 2 --------------------------------------------------------------------------------


@pytest.fixture
def planned(stack, repo_copy, monkeypatch):
    """A fresh sandbox pinning a registered version; the plan job's process (the reader)."""
    uid = isolate(repo_copy, "q")
    model = "diabetes-progression"  # a model of the repository: its package group is shared
    monkeypatch.setenv("GITHUB_SHA", "0" * 40)
    version = World(repo_copy, uid).register(model)  # as `mmeops register` leaves it
    code, out = mmeops(repo_copy, "promote", model, str(version), "--to", "sandbox")
    assert code == 0, out
    env = load_repo(repo_copy).envs["sandbox"]
    reader = env.role_arn.replace("mmeops-deployer", "mmeops-reader")
    as_workflow(stack, monkeypatch, reader, "sandbox-readonly")
    return repo_copy


def test_a_plan_reads_the_sample_through_the_registry_reader(planned):
    code, out = mmeops(planned, "reconcile", "sandbox", "--plan")
    assert code == 0, out


def test_a_plan_fails_with_the_registry_reader_policy_as_it_was(stack, planned):
    name = "mmeops-registry-reader"
    doc = _policy(stack, TRAINING, name, name)
    was = {
        **doc,
        "Statement": [s for s in doc["Statement"] if s["Sid"] == "ReadRegisteredVersions"],
    }
    # the fix added the sample read (identity policy: same account as bucket and key)
    assert len(was["Statement"]) < len(doc["Statement"])  # the fix added the sample read
    _put_policy(stack, TRAINING, name, name, was)
    try:
        with middleware.expecting() as log:
            code, out = mmeops(planned, "reconcile", "sandbox", "--plan")
    finally:
        _put_policy(stack, TRAINING, name, name, doc)
    assert code != 0
    assert "not authorized to perform: s3:GetObject" in out and "/sample.json" in out
    assert log.denied


def test_the_registry_reader_reads_only_sample_files(stack):
    reader = Session(
        "role",
        Caller(
            f"arn:aws:sts::{TRAINING}:assumed-role/mmeops-registry-reader/t",
            TRAINING,
            f"arn:aws:iam::{TRAINING}:role/mmeops-registry-reader",
        ),
    )
    bucket = load_repo(Path(__file__).resolve().parents[2]).settings.bucket
    read = Need("s3:GetObject", f"arn:aws:s3:::{bucket}/evaluations/m/j/sample.json", "object",
                TRAINING, {}, "bucket")  # fmt: skip
    assert decide.authorize(reader, [read], REGION) is None
    # A sample.json that does not exist (a package registered before them) answers 404, not
    # 403: the reader may list exactly those keys (API_GetObject.html, "Permissions").
    tell = Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", "bucket", TRAINING,
                {"s3:prefix": "evaluations/m/j/sample.json"}, "bucket")  # fmt: skip
    assert decide.authorize(reader, [tell], REGION) is None
    listing = Need("s3:ListBucket", f"arn:aws:s3:::{bucket}", "bucket", TRAINING,
                   {"s3:prefix": "evaluations/"}, "bucket")  # fmt: skip
    assert decide.authorize(reader, [listing], REGION) is not None
    for other in ("evaluations/m/j/report.json", "tuning/m/j/model.tar.gz", "datasets/m/x.csv"):
        need = Need(
            "s3:GetObject", f"arn:aws:s3:::{bucket}/{other}", "object", TRAINING, {}, "bucket"
        )
        assert decide.authorize(reader, [need], REGION) is not None, other


# --- path 5 --------------------------------------------------------------------------------


def _execution_session(account: str) -> Session:
    role = f"arn:aws:iam::{account}:role/mmeops-sagemaker-execution"
    return Session(
        "role", Caller(f"arn:aws:sts::{account}:assumed-role/mmeops-sagemaker-execution/SageMaker",
                       account, role)
    )  # fmt: skip


def test_the_execution_role_publishes_metrics_and_encrypts_with_the_key(stack):
    # SageMaker's execution role needs cloudwatch:PutMetricData (sagemaker-roles.html, "
    # CreateTrainingJob API: Execution Role Permissions") and kms:Encrypt with a KmsKeyId.
    key = stack.world.made[TRAINING].physical["ArtifactKey"]["Arn"]
    session = _execution_session(TRAINING)
    metrics = Need("cloudwatch:PutMetricData", "*", "", TRAINING,
                   {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"})  # fmt: skip
    encrypt = Need("kms:Encrypt", key, "key", TRAINING, {}, "key")
    assert decide.authorize(session, [metrics], REGION) is None
    assert decide.authorize(session, [encrypt], REGION) is None


def test_the_execution_role_as_it_was_could_neither(stack):
    name, policy = "mmeops-sagemaker-execution", "mmeops-sagemaker-execution"
    doc = _policy(stack, TRAINING, name, policy)
    was = json.loads(json.dumps(doc))
    was["Statement"] = [s for s in was["Statement"] if s.get("Sid") != "Metrics"]
    for s in was["Statement"]:
        if s.get("Sid") == "BucketKey":
            s["Action"] = ["kms:Decrypt", "kms:GenerateDataKey"]
    _put_policy(stack, TRAINING, name, policy, was)
    try:
        key = stack.world.made[TRAINING].physical["ArtifactKey"]["Arn"]
        session = _execution_session(TRAINING)
        metrics = Need("cloudwatch:PutMetricData", "*", "", TRAINING, {})
        encrypt = Need("kms:Encrypt", key, "key", TRAINING, {}, "key")
        assert decide.authorize(session, [metrics], REGION) is not None
        assert decide.authorize(session, [encrypt], REGION) is not None
    finally:
        _put_policy(stack, TRAINING, name, policy, doc)


def test_the_approver_approves_but_never_rewrites_metadata(stack):
    # UpdateModelPackage's request keys (SAR, SageMaker): sagemaker:ModelApprovalStatus and
    # sagemaker:CustomerMetadataProperties/<key>, as the shipped approver policy uses them.
    role = load_repo(Path(__file__).resolve().parents[2]).settings.training.approver_role_arn
    approver = Session("role", Caller(f"arn:aws:sts::{TRAINING}:assumed-role/x/t", TRAINING, role))
    arn = f"arn:aws:sagemaker:{REGION}:{TRAINING}:model-package/m/1"

    def update(**context) -> str | None:
        need = Need("sagemaker:UpdateModelPackage", arn, "model-package", TRAINING, context)
        refusal = decide.authorize(approver, [need], REGION)
        return None if refusal is None else refusal.reason

    assert update(**{"sagemaker:ModelApprovalStatus": "Approved"}) is None
    assert "no identity-based policy" in update(**{"sagemaker:ModelApprovalStatus": "Rejected"})
    rewrite = {
        "sagemaker:ModelApprovalStatus": "Approved",
        "sagemaker:CustomerMetadataProperties/artifact_sha256": "0" * 64,
    }
    assert "explicit deny" in update(**rewrite)
