"""infra/bootstrap.yaml instantiated for one account: its conditions decided, its intrinsic
functions resolved (Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals, Fn::And, Fn::Not, Fn::Join,
AWS::NoValue; AWS CloudFormation User Guide, intrinsic-function-reference.html), so the
embedded stack creates the very roles, policies, bucket and key the template ships.

Physical ids (a key's id, a bucket's name) are known only once a resource exists: `resolve`
takes them from `physical`, filled in as `world` creates each resource in template order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()
TEMPLATE = Path("infra") / "bootstrap.yaml"
INVOKER_TEMPLATE = Path("infra") / "invoker.yaml"  # the front door's stack, per environment
# The repository the demo's roles trust (`sub` = repo:ORG/REPO:environment:ENV); GitHub's
# OIDC subject format (docs.github.com, "About security hardening with OpenID Connect").
GITHUB_ORG, GITHUB_REPO = "mmeops-demo", "mmeops"


# The checkout this package runs from: a scratch repository (the demo's, a test's copy) may
# carry no infra/ of its own, and its accounts then get this project's template.
_CHECKOUT = Path(__file__).resolve().parents[4]


@functools.cache
def load(repo_root: Path, template: Path = TEMPLATE) -> dict:
    path = repo_root / template
    if not path.exists():
        path = _CHECKOUT / template
    return yaml.safe_load(path.read_text())


@dataclass
class Instance:
    """The template in one account: parameter values and the physical ids made so far."""

    template: dict
    account: str
    region: str
    parameters: dict[str, Any]
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {"Ref":, "Arn":}

    def __post_init__(self) -> None:
        values = {}
        for name, spec in self.template.get("Parameters", {}).items():
            value = self.parameters.get(name, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v for v in value.split(",") if v] if value else [""]
            values[name] = value
        self.values = values
        self._conditions: dict[str, bool] = {}

    # -- conditions and resources
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resources(self) -> list[tuple[str, dict]]:
        """(logical id, resource) for each resource whose condition holds, in template order."""
        return [
            (rid, res)
            for rid, res in self.template["Resources"].items()
            if "Condition" not in res or self.condition(res["Condition"])
        ]

    def properties(self, resource: dict) -> dict:
        return self.resolve(resource.get("Properties", {}))

    # -- intrinsic functions
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            fn = _FUNCTIONS.get(key)
            if fn is not None:
                return fn(self, arg)
        return {
            k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE
        }

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::NoValue": NO_VALUE,
            "AWS::StackName": "mmeops",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.values:
            return self.values[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        raise KeyError(f"{TEMPLATE}: Ref to {name}, which does not exist yet")

    def get_att(self, resource: str, attribute: str) -> str:
        return self.physical[resource][attribute]

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def one(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)


def _if(inst: Instance, arg: list) -> Any:
    return inst.resolve(arg[1] if inst.condition(arg[0]) else arg[2])


_FUNCTIONS = {
    "Ref": lambda inst, arg: inst.ref(arg),
    "Fn::Sub": lambda inst, arg: inst.sub(arg),
    "Fn::GetAtt": lambda inst, arg: inst.get_att(
        *(arg if isinstance(arg, list) else arg.split(".", 1))
    ),
    "Fn::If": _if,
    "Fn::Equals": lambda inst, arg: inst.resolve(arg[0]) == inst.resolve(arg[1]),
    "Fn::And": lambda inst, arg: all(inst.resolve(a) for a in arg),
    "Fn::Or": lambda inst, arg: any(inst.resolve(a) for a in arg),
    "Fn::Not": lambda inst, arg: not inst.resolve(arg[0]),
    "Fn::Join": lambda inst, arg: arg[0].join(str(v) for v in _as_list(inst.resolve(arg[1]))),
    "Condition": lambda inst, arg: inst.condition(arg),
}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
