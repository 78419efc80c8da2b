"""Every AWS call the test suite made is allowed by the policy of the role that made it.

Marked `suite_wide`, so it runs last: conftest.py's `aws_calls` has recorded every call of the
session by then, with the account it landed in and the stage whose code made it: in the
training account, deploy/ runs as the registry approver role (apply; plans read through the
registry reader, whose reads the approver's include), monitor/ as the monitor role, the others
as the training role; in an environment account, monitor/ runs as the reader role and the rest
as the deployer role; None: the runner's own identity, sts only. Calls made by test code and
by the embedded stack itself (its setup, its local endpoint) are not the product's and are
left out. Run alone, too few calls were made to say anything, so the check
skips.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest
from test_iam import allows, allows_on, iam_actions

from mmeops.config.repo import load_repo

pytestmark = pytest.mark.suite_wide

MIN_CALLS = 300  # a full run makes thousands; a single module a handful
STACK = "mmeops/stack/"  # the embedded stack's own calls (its setup, its local endpoint)


@cache
def _roles() -> dict[str | None, str]:
    from test_iam import ROOT

    repo = load_repo(ROOT)
    roles: dict[str | None, str] = {repo.settings.training.account_id: "training-role"}
    roles.update({env.account_id: "deployer-role" for env in repo.envs.values()})
    return roles


# The role a stage's calls run as, where it is not the account's default above.
TRAINING_ACCOUNT_STAGES = {"deploy": "registry-approver-role", "monitor": "monitor-role"}
ENVIRONMENT_ACCOUNT_STAGES = {"monitor": "reader-role", "invoker": "invoker-role"}
# Refusals the product expects and handles: `mmeops routes` reads a version's dataset schema
# best-effort (deploy/routes.py) and falls back to the manifest's features without it.
EXPECTED_REFUSALS = {("mmeops/deploy/routes.py", "s3:GetObject")}


def _role(account: str | None, stage: str) -> str | None:
    role = _roles().get(account)
    if role == "training-role":
        return TRAINING_ACCOUNT_STAGES.get(stage, role)
    if role == "deployer-role":
        return ENVIRONMENT_ACCOUNT_STAGES.get(stage, role)
    return role


def _product(calls: list) -> list:
    product = [c for c in calls if not c[3].startswith(STACK) and c[3] != "tests"]
    if len(product) < MIN_CALLS:
        pytest.skip(f"only {len(product)} product AWS calls recorded: run the whole suite")
    return product


def test_every_call_the_suite_made_is_allowed_for_its_role(aws_calls):
    product = _product(aws_calls)
    refused: set[str] = set()
    for account, service, operation, caller, _where, stage in product:
        if account is None:  # the runner's identity: it only finds and assumes roles
            # ... but the front door in tests/monitor/test_canary_plan.py runs under an invoker
            # role that test makes itself (its calls are enforced by the stack all the same).
            if service != "sts" and not caller.startswith("mmeops/invoker/"):
                refused.add(f"{caller}: {service}:{operation} as the runner itself")
            continue
        role = _role(account, stage)
        if role is None:  # an account of a test's own making
            continue
        for action in iam_actions(service, operation):
            if not allows(role, action) and (caller, action) not in EXPECTED_REFUSALS:
                refused.add(f"{caller}: {action} in {account} not in docs/iam/{role}.json")
    assert sorted(refused) == []
    by_role = Counter(_role(c[0], c[5]) for c in product if c[0] is not None)
    print(f"{len(product)} product AWS calls checked against docs/iam: {by_role}")


@cache
def _variables(account: str) -> dict[str, str]:
    """The values of a policy's variables for an account of the embedded stack. The artifact
    prefix and endpoint name stay open: tests use private ones in the environment's bucket."""
    from test_iam import ROOT

    repo = load_repo(ROOT)
    t = repo.settings.training
    values = {"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": t.region}
    values |= {"TrainingBucket": repo.settings.bucket, "TrainingAccountId": t.account_id}
    for env in repo.envs.values():
        if env.account_id == account:
            values["ArtifactBucket"] = env.artifact_bucket
    return values


def _s3_needs(operation: str, where: dict) -> list[tuple[str, str, str | None]]:
    """(action, resource ARN, listed prefix) an S3 call needs."""
    bucket = where.get("Bucket", "")
    if operation == "ListObjectsV2":
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}", where.get("Prefix", ""))]
    needs = [(a, f"arn:aws:s3:::{bucket}/{where.get('Key', '')}", None) for a in
             iam_actions("s3", operation) if operation != "CopyObject"]  # fmt: skip
    if operation == "CopyObject":
        source = where["CopySource"]
        needs += [("s3:PutObject", f"arn:aws:s3:::{bucket}/{where['Key']}", None)]
        needs += [("s3:GetObject", f"arn:aws:s3:::{source.split('?')[0]}", None)]
    return needs


def _sagemaker_needs(account: str, action: str, where: dict) -> list[tuple[str, str, None]]:
    base = f"arn:aws:sagemaker:us-east-1:{account}"
    if "EndpointConfigName" in where and "EndpointConfig" in action:
        return [(action, f"{base}:endpoint-config/{where['EndpointConfigName']}", None)]
    if "EndpointName" in where:
        return [(action, f"{base}:endpoint/{where['EndpointName']}", None)]
    return []


def test_every_s3_and_endpoint_call_stays_within_the_resources_its_role_names(aws_calls):
    product = _product(aws_calls)
    refused: set[str] = set()
    checked = 0
    for account, service, operation, caller, where, stage in product:
        role = _role(account, stage)
        if role is None:
            continue
        if service == "s3":
            needs = _s3_needs(operation, where)
        elif service in ("sagemaker", "sagemaker-runtime"):
            (action,) = iam_actions(service, operation)
            needs = _sagemaker_needs(account, action, where)
        else:
            continue
        for action, arn, prefix in needs:
            checked += 1
            expected = (caller, action) in EXPECTED_REFUSALS
            if not allows_on(role, action, arn, _variables(account), prefix) and not expected:
                shown = arn if prefix is None else f"{arn} (prefix {prefix!r})"
                refused.add(f"{caller}: {action} on {shown} not in docs/iam/{role}.json")
    assert sorted(refused) == []
    print(f"{checked} resource checks of S3 and endpoint calls against docs/iam")
