"""infra/bootstrap.yaml instantiated for the demo's four accounts, and a small IAM evaluator
over it: enough of AWS's policy evaluation logic to say who can reach what.

Not a general evaluator (the embedded stack's enforcement is that); this one answers the
escalation questions of tests/iam/test_escalation.py from the template's own documents:
- identity policies, trust policies, the bucket policy and the key policy, Allow and Deny
  statements, Action/Resource wildcards, and the condition operators the template uses
  (an unknown operator fails loudly rather than evaluating to anything);
- AWS's evaluation logic ("Policy evaluation logic", IAM User Guide): an explicit Deny wins;
  within one account the identity policy OR a resource policy naming the principal allows;
  across accounts BOTH must allow ("Cross-account policy evaluation logic"); a resource
  policy naming an account (`123456789012` or `arn:aws:iam::123456789012:root`) delegates
  to that account's identity policies; a KMS key policy must always allow ("Key policies in
  AWS KMS": without it no IAM policy grants access);
- GitHub's OIDC token: `sub` is `repo:ORG/REPO:environment:ENV` for a job in an environment
  and `aud` is `sts.amazonaws.com` with configure-aws-credentials (GitHub docs, "About
  security hardening with OpenID Connect"; "Configuring OpenID Connect in Amazon Web
  Services").

`either_side=True` is the defence-in-depth reading: a hop or an access counts when EITHER
side allows it (the caller's grant or the target's trust/resource policy), so each side alone
must keep a forbidden capability out of reach.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ORG, REPO = "example-org", "mmeops"
NO_VALUE = object()


# --- the template, instantiated per account ----------------------------------------------------


@cache
def template() -> dict:
    return yaml.safe_load((ROOT / "infra" / "bootstrap.yaml").read_text())


@cache
def demo_accounts() -> dict[str, dict[str, str]]:
    """The parameters each account's stack is deployed with, from the demo's own config."""
    from mmeops.config.repo import load_repo

    repo = load_repo(ROOT)
    t = repo.settings.training
    envs = sorted(repo.envs.values(), key=lambda e: e.name)
    common = {"GitHubOrg": ORG, "GitHubRepo": REPO, "TrainingAccountId": t.account_id,
              "TrainingBucket": repo.settings.bucket}  # fmt: skip
    accounts = {
        t.account_id: {
            **common,
            "AccountRole": "training",
            "GitHubEnvironment": "training",
            "BucketName": repo.settings.bucket,
            "DeployerAccountIds": [e.account_id for e in envs],
        }  # fmt: skip
    }
    for e in envs:
        accounts[e.account_id] = {
            **common, "AccountRole": "deployer", "GitHubEnvironment": e.name,
            "BucketName": e.artifact_bucket, "ArtifactPrefix": e.artifact_key_prefix,
            "EndpointName": e.endpoint.name, "TrainingKeyId": key_id(t.account_id),
        }  # fmt: skip
    return accounts


def key_id(account: str) -> str:
    return f"key-{account}"


class Stack:
    """One account's stack: the template's resources with every intrinsic resolved."""

    def __init__(self, doc: dict, account: str, params: dict):
        self.doc, self.account = doc, account
        self.params = {k: v.get("Default") for k, v in doc["Parameters"].items()} | params
        self.pseudo = {"AWS::AccountId": account, "AWS::Region": REGION, "AWS::Partition": "aws"}
        self.conditions = {n: self._condition(c) for n, c in doc.get("Conditions", {}).items()}
        self.resources = {
            name: self.resolve(res["Properties"])
            for name, res in doc["Resources"].items()
            if self.conditions.get(res.get("Condition"), True)
        }

    def _condition(self, node) -> bool:
        ((fn, arg),) = node.items()
        if fn == "Condition":
            return self._condition(self.doc["Conditions"][arg])
        if fn == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            return a == b
        if fn == "Fn::And":
            return all(self._condition(x) for x in arg)
        if fn == "Fn::Not":
            return not self._condition(arg[0])
        raise AssertionError(f"condition function {fn} not modelled")

    def _ref(self, name: str):
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        kind = self.doc["Resources"][name]["Type"]
        if kind == "AWS::KMS::Key":
            return key_id(self.account)
        if kind == "AWS::S3::Bucket":
            return self.params["BucketName"]
        raise AssertionError(f"Ref to {name} ({kind}) not modelled")

    def _get_att(self, name: str, attribute: str) -> str:
        assert attribute == "Arn", attribute
        res = self.doc["Resources"][name]
        if res["Type"] == "AWS::IAM::Role":
            return f"arn:aws:iam::{self.account}:role/{self.resolve(res['Properties']['RoleName'])}"
        if res["Type"] == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{self.account}:key/{key_id(self.account)}"
        raise AssertionError(f"GetAtt {name}.Arn not modelled")

    def _sub(self, text: str) -> str:
        def one(m: re.Match) -> str:
            name = m[1]
            if "." in name:
                return self._get_att(*name.split(".", 1))
            value = self._ref(name)
            assert isinstance(value, str), (name, value)
            return value

        return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(x) for x in node]
            return [x for x in items if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::Sub":
                return self._sub(arg)
            if fn == "Fn::GetAtt":
                return self._get_att(*arg)
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.conditions[cond] else no)
            if fn == "Fn::Join":
                separator, items = arg
                return separator.join(self.resolve(items))
            assert not fn.startswith("Fn::"), f"{fn} not modelled"
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}


# --- the world: roles, resource policies --------------------------------------------------------


@dataclass
class Role:
    arn: str
    account: str
    identity: list[dict]
    trust: list[dict]


@dataclass
class World:
    roles: dict[str, Role] = field(default_factory=dict)  # by ARN
    buckets: dict[str, tuple[str, list[dict]]] = field(default_factory=dict)  # name: (acct, policy)
    keys: dict[str, list[dict]] = field(default_factory=dict)  # key ARN: key policy


def world(doc: dict | None = None) -> World:
    """Every account's stack of `doc` (default: infra/bootstrap.yaml) deployed together."""
    doc = copy.deepcopy(doc or template())
    w = World()
    for account, params in demo_accounts().items():
        stack = Stack(doc, account, params)
        for name, props in stack.resources.items():
            kind = doc["Resources"][name]["Type"]
            if kind == "AWS::IAM::Role":
                arn = f"arn:aws:iam::{account}:role/{props['RoleName']}"
                identity = [s for p in props.get("Policies", [])
                            for s in p["PolicyDocument"]["Statement"]]  # fmt: skip
                trust = props["AssumeRolePolicyDocument"]["Statement"]
                w.roles[arn] = Role(arn, account, identity, trust)
            elif kind == "AWS::S3::BucketPolicy":
                w.buckets[props["Bucket"]] = (account, props["PolicyDocument"]["Statement"])
            elif kind == "AWS::KMS::Key":
                w.keys[stack._get_att(name, "Arn")] = props["KeyPolicy"]["Statement"]
    return w


# --- statements --------------------------------------------------------------------------------


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition(operator: str, key: str, expected, context: dict) -> bool:
    if operator == "Null":
        return (key not in context) == (str(expected).lower() == "true")
    if key not in context:
        return False  # a missing key never matches a positive operator
    values, wanted = listed(context[key]), listed(expected)
    if operator in ("StringEquals", "ArnEquals"):
        return any(v == w for v in values for w in wanted)
    if operator in ("StringLike", "ArnLike"):
        return any(_like(w, v) for v in values for w in wanted)
    if operator == "Bool":
        return any(str(v).lower() == str(w).lower() for v in values for w in wanted)
    raise AssertionError(f"condition operator {operator} not modelled")


def _principal_matches(principal, who: Principal) -> bool:
    if principal == "*":
        return True
    for kind, values in principal.items():
        for v in listed(values):
            if (
                kind == "AWS"
                and who.arn
                and (v in (who.account, f"arn:aws:iam::{who.account}:root") or v == who.arn)
            ):
                return True
            if kind == "Federated" and v == who.federated:
                return True
    return False


def _names_principal_itself(principal, who: Principal) -> bool:
    """A resource policy that names the role itself (not its account) allows on its own."""
    return principal != "*" and who.arn in listed(principal.get("AWS", []))


@dataclass(frozen=True)
class Principal:
    arn: str = ""  # a role
    account: str = ""
    federated: str = ""  # a web identity: the OIDC provider's ARN


def applies(s: dict, action: str, resource: str, context: dict, who: Principal | None) -> bool:
    if not any(_like(a, action, case=False) for a in listed(s["Action"])):
        return False
    if who is None:  # an identity policy names resources
        if not any(_like(r, resource) for r in listed(s["Resource"])):
            return False
    else:  # a resource policy names principals (and, except trusts, resources)
        if not _principal_matches(s["Principal"], who):
            return False
        if "Resource" in s and not any(_like(r, resource) for r in listed(s["Resource"])):
            return False
    return all(
        _condition(op, key, expected, context)
        for op, block in s.get("Condition", {}).items()
        for key, expected in block.items()
    )


def decide(statements, action, resource, context, who=None) -> str | None:
    """ "Deny", "Allow" or None (implicit deny) for one policy."""
    hits = {s["Effect"] for s in statements if applies(s, action, resource, context, who)}
    return "Deny" if "Deny" in hits else "Allow" if "Allow" in hits else None


# --- authorization -----------------------------------------------------------------------------


def _account_of(w: World, resource: str) -> str:
    if resource.startswith("arn:aws:s3:::"):
        return w.buckets.get(resource[13:].split("/", 1)[0], ("", []))[0]
    return resource.split(":")[4]


def _resource_policy(w: World, action: str, resource: str) -> list[dict] | None:
    if action == "sts:AssumeRole":
        return w.roles[resource].trust if resource in w.roles else []
    if resource.startswith("arn:aws:s3:::"):
        return w.buckets.get(resource[13:].split("/", 1)[0], ("", None))[1]
    if resource.startswith("arn:aws:kms:"):
        return w.keys.get(resource, [])
    return None  # no resource policy (SageMaker, Secrets Manager here, IAM PassRole)


def allowed(
    w: World, role: Role, action: str, resource: str, context: dict | None = None,
    either_side: bool = False,
) -> bool:  # fmt: skip
    who = Principal(role.arn, role.account)
    context = {"aws:PrincipalArn": role.arn, "aws:PrincipalAccount": role.account,
               "aws:SecureTransport": "true", **(context or {})}  # fmt: skip
    identity = decide(role.identity, action, resource, context)
    policy = _resource_policy(w, action, resource)
    resource_side = None if policy is None else decide(policy, action, resource, context, who)
    if "Deny" in (identity, resource_side):
        return False
    if either_side:
        return "Allow" in (identity, resource_side)
    same_account = _account_of(w, resource) == role.account
    names_itself = policy is not None and any(
        s["Effect"] == "Allow" and _names_principal_itself(s["Principal"], who)
        and applies(s, action, resource, context, who)
        for s in policy
    )  # fmt: skip
    if resource.startswith("arn:aws:kms:"):  # the key policy must allow, always
        return resource_side == "Allow" and (names_itself or identity == "Allow")
    if same_account and policy is not None and names_itself:
        return True
    if same_account or policy is None:
        return identity == "Allow"
    return identity == "Allow" and resource_side == "Allow"


# --- who reaches which role ---------------------------------------------------------------------

OIDC_AUDIENCE = "sts.amazonaws.com"
TOKEN = "token.actions.githubusercontent.com"


def web_identity_roles(w: World, environment: str) -> set[str]:
    """Roles a job in GitHub environment `environment` of ORG/REPO may assume with its token."""
    context = {f"{TOKEN}:sub": f"repo:{ORG}/{REPO}:environment:{environment}",
               f"{TOKEN}:aud": OIDC_AUDIENCE}  # fmt: skip
    found = set()
    for arn, role in w.roles.items():
        provider = f"arn:aws:iam::{role.account}:oidc-provider/{TOKEN}"
        who = Principal(federated=provider)
        if decide(role.trust, "sts:AssumeRoleWithWebIdentity", arn, context, who) == "Allow":
            found.add(arn)
    return found


def assumable(w: World, role: Role, either_side: bool = False) -> set[str]:
    others = (arn for arn in w.roles if arn != role.arn)
    return {arn for arn in others if allowed(w, role, "sts:AssumeRole", arn, None, either_side)}


def reachable(w: World, environment: str, either_side: bool = False) -> set[str]:
    """Every role a job in `environment` can end up as: its web identity roles, and every role
    chained from them with sts:AssumeRole."""
    seen = set(web_identity_roles(w, environment))
    queue = deque(seen)
    while queue:
        for arn in assumable(w, w.roles[queue.popleft()], either_side) - seen:
            seen.add(arn)
            queue.append(arn)
    return seen
