"""The embedded stack's accounts are infra/bootstrap.yaml instantiated: the policies in its IAM
are the template's, with the parameters mmeops.yaml and environments/*.yaml imply (CloudFormation
intrinsic functions resolved: Ref, Fn::Sub, Fn::GetAtt, Fn::If and conditions)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mmeops.config.repo import load_repo
from mmeops.stack.iam.template import Instance, load
from mmeops.stack.iam.world import parameters

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "iam"


def _filled(doc: dict, values: dict) -> dict:
    text = json.dumps(doc)
    text = re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: str(values[m.group(1)]), text)
    return json.loads(text)


def test_each_environment_account_holds_the_documented_deployer_policy(stack):
    repo = load_repo(ROOT)
    for env in repo.envs.values():
        inst = stack.world.made[env.account_id]
        values = {
            **inst.values,
            "AWS::Partition": "aws",
            "AWS::Region": env.region,
            "AWS::AccountId": env.account_id,
            "ArtifactBucket": env.artifact_bucket,
            "ArtifactKey": inst.physical["ArtifactKey"]["Ref"],
        }
        admin = stack.admin(env.account_id)
        live = admin.call(
            "iam", "get_role_policy", RoleName="mmeops-deployer", PolicyName="mmeops-deployer"
        )["PolicyDocument"]
        live = json.loads(live) if isinstance(live, str) else live
        documented = _filled(json.loads((DOCS / "deployer-role.json").read_text()), values)
        assert live == documented
        assert inst.values["EndpointName"] == env.endpoint.name
        assert inst.values["ArtifactPrefix"] == env.artifact_key_prefix


def test_the_training_account_grants_every_deployer_account(stack):
    repo = load_repo(ROOT)
    t = repo.settings.training
    approver = t.approver_role_arn.rsplit("/", 1)[1]
    trust = stack.admin(t.account_id).call("iam", "get_role", RoleName=approver)["Role"][
        "AssumeRolePolicyDocument"
    ]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (deployers,) = [s for s in trust["Statement"] if s.get("Sid") == "DeployersApprove"]
    assert set(deployers["Principal"]["AWS"]) >= {e.account_id for e in repo.envs.values()}


def test_conditions_and_parameters_decide_what_an_account_gets():
    template = load(ROOT)
    plan = parameters(load_repo(ROOT))
    training = Instance(template, *plan[0])
    deployer = Instance(template, *plan[1])
    kinds = lambda inst: {rid for rid, _ in inst.resources()}  # noqa: E731
    assert {"TrainingRole", "RegistryReaderRole"} <= kinds(training)
    assert not {"DeployerRole", "ReaderRole"} & kinds(training)
    assert {"DeployerRole", "ReaderRole"} <= kinds(deployer)
    alone = Instance(template, *plan[0][:2], {**plan[0][2], "DeployerAccountIds": ""})
    assert "RegistryReaderRole" not in kinds(alone)  # HasDeployers false: no cross-account
    deployer.physical["ArtifactBucket"] = {"Ref": "b", "Arn": "arn:aws:s3:::b"}
    deployer.physical["ArtifactKey"] = {"Ref": "k", "Arn": "arn:aws:kms:us-east-1:2:key/k"}
    role = dict(deployer.resources())["DeployerRole"]
    (policy,) = deployer.properties(role)["Policies"]
    (endpoint,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "Endpoint"]
    assert endpoint["Resource"].endswith(f":endpoint/{deployer.values['EndpointName']}")
