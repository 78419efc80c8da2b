"""One policy document against one request, as IAM reads it.

A statement applies when its Action/NotAction, Resource/NotResource, Principal/NotPrincipal
(resource policies) and every Condition match. Sources (IAM User Guide):
- elements: reference_policies_elements_action.html, _resource.html, _notaction.html,
  _notresource.html, _principal.html; wildcards `*` and `?`, actions case-insensitive,
  resources case-sensitive;
- conditions: reference_policies_elements_condition_operators.html (String*, Arn*, Bool,
  Null, Numeric*, `...IfExists`, a negated operator is true for an absent key) and
  reference_policies_condition-single-vs-multi-valued-context-keys.html (ForAnyValue /
  ForAllValues); several values of one key are ORed, keys and operators ANDed;
- variables: reference_policies_variables.html (`${aws:username}`, `${*}`, `${?}`, `${$}`;
  an absent variable makes its Resource or condition value match nothing).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Caller:
    """A principal as resource and trust policies name it."""

    arn: str  # arn:aws:sts::ACCT:assumed-role/ROLE/SESSION, arn:aws:iam::ACCT:user/NAME
    account: str
    role_arn: str | None = None  # the role behind an assumed-role session
    federated: str | None = None  # an OIDC provider ARN (AssumeRoleWithWebIdentity)
    service: str | None = None  # sagemaker.amazonaws.com (a service assuming a role)


@dataclass
class Request:
    """What one statement is matched against: an action, a resource, the caller, the context."""

    action: str
    resource: str
    caller: Caller | None = None
    context: dict[str, Any] = field(default_factory=dict)  # condition keys (values str or list)


def listed(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).match(value) is not None


_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_ESCAPES = {"*": "\0STAR\0", "?": "\0QMARK\0", "$": "$"}


class _Unresolved(Exception):
    """A policy variable whose key the request lacks: the value matches nothing."""


def substitute(text: str, context: dict[str, Any], as_glob: bool) -> str:
    """Policy variables replaced from the context; `${*}` is a literal `*` in a glob."""

    def one(m: re.Match) -> str:
        name = m.group(1)
        if name in _ESCAPES:
            return _ESCAPES[name] if as_glob else name
        value = _lookup(context, name)
        if value is None or isinstance(value, list):
            raise _Unresolved(name)
        return str(value).replace("*", _ESCAPES["*"]).replace("?", _ESCAPES["?"])

    return _VARIABLE.sub(one, text) if "${" in text else text


def _literal_glob(pattern: str, value: str, ignore_case: bool) -> bool:
    """A glob where `\\0STAR\\0`-escaped characters stand for themselves."""
    if "\0" not in pattern:
        return glob_match(pattern, value, ignore_case)
    parts = re.split(r"(\0STAR\0|\0QMARK\0)", pattern)
    regex = "".join(
        re.escape("*")
        if p == "\0STAR\0"
        else re.escape("?")
        if p == "\0QMARK\0"
        else _glob(p, ignore_case).pattern[:-2]
        for p in parts
    )
    return re.match(regex + r"\Z", value, re.DOTALL | (re.I if ignore_case else 0)) is not None


def _lookup(context: dict[str, Any], key: str) -> Any:
    """Condition keys are case-insensitive (tag keys aside, which we do not use)."""
    if key in context:
        return context[key]
    lower = key.lower()
    return next((v for k, v in context.items() if k.lower() == lower), None)


# --- elements --------------------------------------------------------------------------------


def _action_matches(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not any(glob_match(a, action, True) for a in listed(statement["NotAction"]))
    return any(glob_match(a, action, True) for a in listed(statement.get("Action")))


def _resource_matches(statement: dict, request: Request) -> bool:
    def hit(patterns: Iterable[str]) -> bool:
        for p in patterns:
            try:
                pattern = substitute(p, request.context, as_glob=True)
            except _Unresolved:
                continue
            if _literal_glob(pattern, request.resource, False):
                return True
        return False

    if "NotResource" in statement:
        return not hit(listed(statement["NotResource"]))
    if "Resource" not in statement:  # trust policies name no resource: the role itself
        return True
    return hit(listed(statement["Resource"]))


def principal_matches(principal: Any, caller: Caller | None) -> bool:
    """Principal element of a resource or trust policy (reference_policies_elements_principal:
    an account id or `:root` names every principal of the account; a role ARN its sessions)."""
    if caller is None:
        return False
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, values in principal.items():
        for value in listed(values):
            if kind == "AWS" and _aws_principal(value, caller):
                return True
            if kind == "Federated" and caller.federated == value:
                return True
            if kind == "Service" and caller.service == value:
                return True
    return False


def names_account_only(principal: Any, caller: Caller) -> bool:
    """Whether the statement names the caller's whole account (root or its id) rather than
    the caller: such a grant delegates to the account's identity policies."""
    if not isinstance(principal, dict):
        return False
    return any(
        v in (caller.account, f"arn:aws:iam::{caller.account}:root")
        for v in listed(principal.get("AWS"))
    )


def _aws_principal(value: str, caller: Caller) -> bool:
    if value == "*":
        return True
    if value in (caller.account, f"arn:aws:iam::{caller.account}:root"):
        return True
    return value in (caller.arn, caller.role_arn)


# --- conditions --------------------------------------------------------------------------------

_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}


def _compare(op: str, actual: str, wanted: str) -> bool:
    if op in ("StringEquals", "StringNotEquals"):
        return actual == wanted
    if op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == wanted.lower()
    if op in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return _literal_glob(wanted, actual, False)
    if op in ("ArnEquals", "ArnNotEquals"):
        return actual == wanted
    if op == "Bool":
        return actual.lower() == wanted.lower()
    if op.startswith("Numeric"):
        a, w = float(actual), float(wanted)
        return {
            "NumericEquals": a == w,
            "NumericNotEquals": a == w,
            "NumericLessThan": a < w,
            "NumericLessThanEquals": a <= w,
            "NumericGreaterThan": a > w,
            "NumericGreaterThanEquals": a >= w,
        }[op]
    raise ValueError(f"unsupported condition operator {op}")


def _condition_holds(operator: str, key: str, wanted_values: Any, context: dict) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    actual = _lookup(context, key)
    if op == "Null":
        return any(
            str(w).lower() == ("true" if actual is None else "false") for w in listed(wanted_values)
        )
    if actual is None:
        return if_exists or op in _NEGATED or qualifier == "ForAllValues"
    wanted = []
    for w in listed(wanted_values):
        try:
            wanted.append(substitute(str(w), context, as_glob=op.endswith("Like")))
        except _Unresolved:
            continue
    negated = op in _NEGATED
    actuals = [str(a) for a in listed(actual)]

    def one(value: str) -> bool:
        hit = any(_compare(op, value, w) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(a) for a in actuals)
    if qualifier == "ForAnyValue" or len(actuals) == 1:
        return any(one(a) for a in actuals)
    return False  # a multi-valued key without a set operator: AWS matches nothing


def conditions_hold(conditions: dict, context: dict) -> bool:
    return all(
        _condition_holds(op, key, wanted, context)
        for op, keys in conditions.items()
        for key, wanted in keys.items()
    )


# --- statements --------------------------------------------------------------------------------


def statements(document: Any) -> list[dict]:
    """A policy's statements, from a dict or its JSON text (moto stores either)."""
    if isinstance(document, (str, bytes)):
        document = _parse(document if isinstance(document, str) else document.decode())
    return listed(document.get("Statement")) if isinstance(document, dict) else []


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> dict:
    from urllib.parse import unquote

    text = text.strip()
    if text.startswith("%7B"):  # moto keeps IAM documents URL-encoded, as IAM returns them
        text = unquote(text)
    return json.loads(text)


def applies(statement: dict, request: Request, resource_policy: bool) -> bool:
    """Whether the statement covers the request (its Effect decides what that means)."""
    if resource_policy:
        if "NotPrincipal" in statement:
            if principal_matches(statement["NotPrincipal"], request.caller):
                return False
        elif not principal_matches(statement.get("Principal"), request.caller):
            return False
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request)
        and conditions_hold(statement.get("Condition") or {}, request.context)
    )


def effects(documents: Iterable[Any], request: Request, resource_policy: bool = False) -> set[str]:
    """The effects of every statement of the documents that applies: "Allow", "Deny", and for
    a resource policy "AllowAccount" when an Allow names only the caller's account (a grant
    the account's identity policies must then make too)."""
    found: set[str] = set()
    for document in documents:
        for statement in statements(document):
            if applies(statement, request, resource_policy):
                effect = statement.get("Effect", "Deny")
                if (
                    effect == "Allow"
                    and resource_policy
                    and request.caller is not None
                    and names_account_only(statement.get("Principal"), request.caller)
                ):
                    effect = "AllowAccount"
                found.add(effect)
    return found
