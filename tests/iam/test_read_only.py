"""No read-only role can reach a role that can write (issue 16, item 13).

Plans and drift checks run on any branch in the unprotected `ENV-readonly` GitHub
environments, with the reader role. If that role may assume a role with write access (as it
once could assume the training role), any branch can write training data, approve packages
and read the warehouse secret. Checked statically over infra/bootstrap.yaml, whose policies
tests/iam/test_iam.py holds equal to docs/iam/: both sides of every hop, the caller's
`sts:AssumeRole` grant and the target's trust policy, so that either alone keeps the chain
broken.
"""

from __future__ import annotations

import copy
import re

from test_iam import _listed, template

# IAM verbs that only read (the Service Authorization Reference's "Read" and "List" access
# levels for the actions these roles hold); sts:AssumeRole is a hop, followed below.
READ_VERBS = ("Describe", "List", "Get")
READ_ACTIONS = {"kms:Decrypt"}
HOP = "sts:AssumeRole"


def _name(value, params: dict) -> str:
    return params[value["Ref"]]["Default"] if isinstance(value, dict) else value


def _sub(text: str, params: dict) -> str:
    """`${Param}` replaced by the parameter's default; other variables stay as they are."""
    return re.sub(
        r"\$\{(\w+)\}",
        lambda m: params[m[1]].get("Default", m[0]) if m[1] in params else m[0],
        text,
    )


def _text(value) -> str:
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else str(value)


def roles(doc: dict) -> dict[str, dict]:
    """Role name -> {"actions", "assumes" (role names), "trusts" (role-name patterns)}."""
    params = doc["Parameters"]
    found = {}
    for res in doc["Resources"].values():
        if res["Type"] != "AWS::IAM::Role":
            continue
        props = res["Properties"]
        policies = props.get("Policies", [])
        statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
        actions = {a for s in statements for a in _listed(s["Action"])}
        assumes = {
            _sub(_text(r), params).rpartition(":role/")[2]
            for s in statements
            if HOP in _listed(s["Action"])
            for r in _listed(s["Resource"])
        }
        trusts = set()
        for s in props["AssumeRolePolicyDocument"]["Statement"]:
            s = s["Fn::If"][1] if "Fn::If" in s else s  # a conditional statement, when it holds
            if "AWS" not in s.get("Principal", {}):
                continue
            patterns = s.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn", ["*"])
            trusts |= {_sub(_text(p), params).rpartition(":role/")[2] for p in patterns}
        found[_name(props["RoleName"], params)] = {
            "actions": actions,
            "assumes": assumes,
            "trusts": trusts,
        }
    return found


def writes(actions: set[str]) -> set[str]:
    return {
        a for a in actions - {HOP} - READ_ACTIONS if not a.partition(":")[2].startswith(READ_VERBS)
    }


def chains_to_write(doc: dict) -> list[str]:
    """Every hop from a read-only role to a role that can write, on either side."""
    found = roles(doc)
    read_only = {n for n, r in found.items() if not writes(r["actions"])}
    problems = []
    for name in sorted(read_only):
        for target in sorted(found[name]["assumes"]):
            if target not in read_only:
                problems.append(f"{name} may assume {target} (policy)")
    for target, r in sorted(found.items()):
        if target in read_only:
            continue
        for pattern in sorted(r["trusts"]):
            for name in sorted(read_only):
                if re.fullmatch(pattern.replace("*", ".*"), name):
                    problems.append(f"{target} trusts {name} (trust policy)")
    return problems


def test_the_reader_roles_only_read_and_the_others_write():
    found = roles(template())
    assert set(found) >= {"mmeops-reader", "mmeops-registry-reader", "mmeops-training"}
    assert writes(found["mmeops-reader"]["actions"]) == set()
    assert writes(found["mmeops-registry-reader"]["actions"]) == set()
    assert "sagemaker:CreateModelPackage" in writes(found["mmeops-training"]["actions"])
    assert "sagemaker:UpdateModelPackage" in writes(found["mmeops-registry-approver"]["actions"])
    assert "sagemaker:UpdateEndpoint" in writes(found["mmeops-deployer"]["actions"])


def test_readers_reach_the_registry_through_the_read_only_registry_role():
    found = roles(template())
    assert found["mmeops-reader"]["assumes"] == {"mmeops-registry-reader"}
    assert "mmeops-reader" in found["mmeops-registry-reader"]["trusts"]


def test_no_read_only_role_can_assume_a_role_with_write_access():
    assert chains_to_write(template()) == []


def test_the_check_finds_the_old_chain_from_reader_to_training_role():
    """The set-up this replaced: the training role trusted the reader roles, and the reader
    policy granted sts:AssumeRole on the training role."""
    old = copy.deepcopy(template())
    training = old["Resources"]["TrainingRole"]["Properties"]
    training["AssumeRolePolicyDocument"]["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": {"Ref": "DeployerAccountIds"}},
            "Action": HOP,
            "Condition": {
                "ArnLike": {
                    "aws:PrincipalArn": [
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/mmeops-reader"}
                    ]
                }
            },
        }
    )
    reader = old["Resources"]["ReaderRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (grant,) = [s for s in reader["Statement"] if s["Action"] == [HOP]]
    grant["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:iam::1:role/${TrainingRoleName}"}
    assert chains_to_write(old) == [
        "mmeops-reader may assume mmeops-training (policy)",
        "mmeops-training trusts mmeops-reader (trust policy)",
    ]
