"""The accounts of the repository, built from infra/bootstrap.yaml: per account the template
instantiated with the parameters mmeops.yaml and environments/*.yaml imply, then created in
moto through the stack's admin identity (the one CloudFormation would act as).

Training first: the environments' stacks need its key id (TrainingKeyId)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmeops.stack.iam.template import GITHUB_ORG, GITHUB_REPO, Instance, load

# The OIDC provider's thumbprint: IAM requires one; AWS no longer checks it for GitHub.
_THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def parameters(repo: Any) -> list[tuple[str, str, dict]]:
    """(account, region, template parameters) for the training account, then each
    environment's account."""
    t = repo.settings.training
    common = {
        "GitHubOrg": GITHUB_ORG,
        "GitHubRepo": GITHUB_REPO,
        "TrainingAccountId": t.account_id,
        "TrainingBucket": repo.settings.bucket,
        "TrainingRoleName": _role_name(t.role_arn),
        "ExecutionRoleName": _role_name(t.execution_role_arn),
    }
    if t.registry_role_arn:
        common["RegistryRoleName"] = _role_name(t.registry_role_arn)
    envs = sorted(repo.envs.values(), key=lambda e: e.name)
    out = [
        (
            t.account_id,
            t.region,
            {
                **common,
                "AccountRole": "training",
                "GitHubEnvironment": "training",
                "BucketName": repo.settings.bucket,
                "DeployerAccountIds": ",".join(
                    dict.fromkeys(e.account_id for e in envs if e.account_id != t.account_id)
                ),
            },
        )
    ]
    for e in envs:
        out.append(
            (
                e.account_id,
                e.region,
                {
                    **common,
                    "AccountRole": "deployer",
                    "GitHubEnvironment": e.name,
                    "BucketName": e.artifact_bucket,
                    "ArtifactPrefix": e.artifact_key_prefix,
                    "EndpointName": e.endpoint.name,
                },
            )
        )
    return out


def build(repo_root: Path, repo: Any, admin_for: Callable[[str, str], Any]) -> dict[str, Instance]:
    """Create every account's resources; returns each account's instance (physical ids)."""
    template = load(repo_root)
    made: dict[str, Instance] = {}
    training_key = "none"
    for account, region, params in parameters(repo):
        if params["AccountRole"] == "deployer":
            params["TrainingKeyId"] = training_key
        if account in made:  # an environment sharing the training account: one stack there
            continue
        inst = Instance(template, account, region, params)
        create(inst, admin_for(account, region))
        made[account] = inst
        if params["AccountRole"] == "training":
            training_key = inst.physical["ArtifactKey"]["Ref"]
    return made


def create(inst: Instance, aws: Any) -> None:
    for rid, resource in inst.resources():
        kind = resource["Type"]
        props = inst.properties(resource)
        inst.physical[rid] = _CREATORS[kind](aws, props, inst)


def _oidc(aws, props, inst) -> dict:
    arn = aws.call(
        "iam",
        "create_open_id_connect_provider",
        Url=props["Url"],
        ClientIDList=props["ClientIdList"],
        ThumbprintList=[_THUMBPRINT],
    )["OpenIDConnectProviderArn"]
    return {"Ref": arn, "Arn": arn}


def _key(aws, props, inst) -> dict:
    meta = aws.call(
        "kms", "create_key", Description=props["Description"], Policy=json.dumps(props["KeyPolicy"])
    )["KeyMetadata"]
    return {"Ref": meta["KeyId"], "Arn": meta["Arn"]}


def _alias(aws, props, inst) -> dict:
    aws.call("kms", "create_alias", AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return {"Ref": props["AliasName"]}


def _bucket(aws, props, inst) -> dict:
    name = props["BucketName"]
    params: dict[str, Any] = {"Bucket": name}
    if inst.region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": inst.region}
    aws.call("s3", "create_bucket", **params)
    aws.call(
        "s3",
        "put_bucket_versioning",
        Bucket=name,
        VersioningConfiguration=props["VersioningConfiguration"],
    )
    aws.call(
        "s3",
        "put_bucket_encryption",
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                _encryption_rule(rule)
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
    )
    aws.call(
        "s3",
        "put_public_access_block",
        Bucket=name,
        PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
    )
    aws.call(
        "s3",
        "put_bucket_ownership_controls",
        Bucket=name,
        OwnershipControls=props["OwnershipControls"],
    )
    return {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}


def _encryption_rule(rule: dict) -> dict:
    """CloudFormation's ServerSideEncryptionRule as the S3 API spells it."""
    out = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    if "BucketKeyEnabled" in rule:
        out["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
    return out


def _bucket_policy(aws, props, inst) -> dict:
    aws.call(
        "s3",
        "put_bucket_policy",
        Bucket=props["Bucket"],
        Policy=json.dumps(props["PolicyDocument"]),
    )
    return {"Ref": props["Bucket"]}


def _role(aws, props, inst) -> dict:
    name = props["RoleName"]
    params = {
        "RoleName": name,
        "AssumeRolePolicyDocument": json.dumps(props["AssumeRolePolicyDocument"]),
    }
    if "MaxSessionDuration" in props:
        params["MaxSessionDuration"] = int(props["MaxSessionDuration"])
    arn = aws.call("iam", "create_role", **params)["Role"]["Arn"]
    for policy in props.get("Policies", []):
        aws.call(
            "iam",
            "put_role_policy",
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )
    return {"Ref": name, "Arn": arn}


_CREATORS = {
    "AWS::IAM::OIDCProvider": _oidc,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::IAM::Role": _role,
}
