"""The accounts of the repository, built from infra/bootstrap.yaml: per account the template
instantiated with the parameters mmeops.yaml and environments/*.yaml imply, then created in
moto through the stack's admin identity (the one CloudFormation would act as).

Training first: the environments' stacks need its key id (TrainingKeyId). Then, per
environment, infra/invoker.yaml's stack as far as the stack can hold it: the front door's
log group and execution role (the local `mmeops invoker` process stands for the function).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmeops.stack.iam.template import GITHUB_ORG, GITHUB_REPO, INVOKER_TEMPLATE, Instance, load

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
    for param, arn in (
        ("RegistryRoleName", t.registry_role_arn),
        ("ApproverRoleName", t.approver_role_arn),
        ("MonitorRoleName", t.monitor_role_arn),
    ):
        if arn:
            common[param] = _role_name(arn)
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


class World:
    """The accounts built so far, grown as repositories name new ones (a test world's fresh
    environment accounts): each new account gets its own stack of the template, and the
    training account's grants to deployer accounts are re-applied with the new ids, as a
    platform team updates the training stack's DeployerAccountIds."""

    def __init__(self, repo_root: Path, admin_for: Callable[[str, str], Any]):
        self.template = load(repo_root)
        self.admin_for = admin_for
        self.made: dict[str, Instance] = {}
        self.deployers: list[str] = []
        self.invoker_template = load(repo_root, INVOKER_TEMPLATE)
        self.invokers: dict[tuple[str, str], Instance] = {}  # (account, environment) ->

    def build(self, repo: Any) -> None:
        plan = parameters(repo)
        training_account, region, training_params = plan[0]
        new = [a for a, _, p in plan[1:] if a not in self.deployers and a != training_account]
        self.deployers += list(dict.fromkeys(new))
        training_params["DeployerAccountIds"] = ",".join(self.deployers)
        training = Instance(self.template, training_account, region, training_params)
        if training_account not in self.made:
            create(training, self.admin_for(training_account, region))
            self.made[training_account] = training
        elif new:
            training.physical = self.made[training_account].physical
            regrant(training, self.admin_for(training_account, region))
        key = self.made[training_account].physical["ArtifactKey"]["Ref"]
        for account, env_region, params in plan[1:]:
            if account in self.made:
                continue
            inst = Instance(self.template, account, env_region, {**params, "TrainingKeyId": key})
            create(inst, self.admin_for(account, env_region))
            self.made[account] = inst
        for e in sorted(repo.envs.values(), key=lambda e: e.name):
            if (e.account_id, e.name) not in self.invokers:
                self._invoker(e)

    def _invoker(self, e: Any) -> None:
        key = self.made[e.account_id].physical["ArtifactKey"]["Arn"]
        params = {
            "Environment": e.name,
            "BucketName": e.artifact_bucket,
            "ArtifactPrefix": e.artifact_key_prefix,
            "EndpointName": e.endpoint.name,
            "KeyArn": key,
            "CodeKey": "_mmeops/invoker/local.zip",  # no package: nothing runs it here
            "ClientPrincipal": e.account_id,
        }
        inst = Instance(self.invoker_template, e.account_id, e.region, params)
        aws = self.admin_for(e.account_id, e.region)
        stack_name = f"mmeops-invoker-{e.name}"  # the template header's, one per environment
        for rid, resource in inst.resources():
            if resource["Type"] not in _INVOKER_PARTS:
                continue  # the function, its URL and permissions: the local process instead
            props = inst.properties(resource)
            if resource["Type"] == "AWS::IAM::Role":  # CloudFormation names it STACK-ID-RANDOM
                props.setdefault("RoleName", f"{stack_name}-{rid}")
            inst.physical[rid] = _CREATORS[resource["Type"]](aws, props, inst)
        self.invokers[(e.account_id, e.name)] = inst

    def invoker_role(self, account: str, env_name: str) -> str:
        """The ARN of the front door's execution role in one environment."""
        return self.invokers[(account, env_name)].physical["Role"]["Arn"]


def regrant(inst: Instance, aws: Any) -> None:
    """Re-apply the training account's trust, key and bucket policies (their deployer lists)."""
    for rid, resource in inst.resources():
        props = inst.properties(resource)
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            aws.call(
                "iam",
                "update_assume_role_policy",
                RoleName=props["RoleName"],
                PolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            )
        elif kind == "AWS::KMS::Key":
            aws.call(
                "kms",
                "put_key_policy",
                KeyId=inst.physical[rid]["Ref"],
                PolicyName="default",
                Policy=json.dumps(props["KeyPolicy"]),
            )
        elif kind == "AWS::S3::BucketPolicy":
            _bucket_policy(aws, props, inst)


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


def _log_group(aws, props, inst) -> dict:
    name = props["LogGroupName"]
    aws.call("logs", "create_log_group", logGroupName=name)
    days = int(props["RetentionInDays"])
    aws.call("logs", "put_retention_policy", logGroupName=name, retentionInDays=days)
    # Fn::GetAtt Arn ends in ":*" (CloudFormation, AWS::Logs::LogGroup, return values).
    return {"Ref": name, "Arn": f"arn:aws:logs:{inst.region}:{inst.account}:log-group:{name}:*"}


_CREATORS = {
    "AWS::IAM::OIDCProvider": _oidc,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::IAM::Role": _role,
    "AWS::Logs::LogGroup": _log_group,
}
_INVOKER_PARTS = ("AWS::Logs::LogGroup", "AWS::IAM::Role")
