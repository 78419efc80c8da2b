"""A signed HTTP request turned back into the operation it calls and that operation's input, by
the rules of its service's protocol (botocore's service model says where each member travels):

- json (SageMaker, Secrets Manager, Application Auto Scaling): `X-Amz-Target: Prefix.Operation`,
  the input is the JSON body;
- query (STS, SNS): `Action=Operation` in the form body or query string, members flattened as
  `Tags.member.1.Key=...` (lists `.member.N`, maps `.entry.N.key` / `.value`);
- rest-json / rest-xml (S3): the method and path matched against each operation's
  `http.requestUri`; members from URI labels, the query string, headers and the body (JSON, or
  for S3 an XML payload structure).

The result is only read, by the validator; moto still parses the request itself.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

# The SigV4 signing name -> the botocore services signed with it (the runtime shares
# SageMaker's signing name; CloudWatch signs as `monitoring`).
_SERVICES_BY_SIGNING_NAME = {
    "sagemaker": ("sagemaker", "sagemaker-runtime"),
    "monitoring": ("cloudwatch",),
    "email": ("ses",),
}


@dataclass(frozen=True)
class Request:
    """The parts of a WSGI request the protocols read."""

    method: str
    path: str  # percent-decoded, as WSGI gives PATH_INFO
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes | None  # None: not read (an object upload's payload)


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def service_models(signing_name: str) -> tuple[ServiceModel, ...]:
    """The service models signed as `signing_name`; empty for a service botocore lacks."""
    names = _SERVICES_BY_SIGNING_NAME.get(signing_name, (signing_name,))
    available = set(_session().get_available_services())
    return tuple(_session().get_service_model(name) for name in names if name in available)


def resolve(models: tuple[ServiceModel, ...], request: Request) -> OperationModel | None:
    """The operation `request` calls in one of `models`; None when none matches."""
    for model in models:
        protocol = model.metadata["protocol"]
        if protocol == "json":
            operation = _json_operation(model, request)
        elif protocol == "query":
            operation = _query_operation(model, request)
        else:
            operation = _rest_operation(model, request)
        if operation is not None:
            return operation
    return None


def _json_operation(model: ServiceModel, request: Request) -> OperationModel | None:
    prefix, _, name = request.headers.get("x-amz-target", "").partition(".")
    if prefix != model.metadata.get("targetPrefix") or name not in model.operation_names:
        return None
    return model.operation_model(name)


def _query_params(request: Request) -> dict[str, list[str]]:
    params = dict(request.query)
    if request.body and "form-urlencoded" in request.headers.get("content-type", ""):
        params.update(parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _query_operation(model: ServiceModel, request: Request) -> OperationModel | None:
    action = _query_params(request).get("Action", [""])[0]
    return model.operation_model(action) if action in model.operation_names else None


# --- rest protocols: which operation a method and path call ----------------------------------


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern  # the requestUri's path, labels as named groups
    literals: tuple[tuple[str, str | None], ...]  # the requestUri's query: (key, value or None)


def _route(operation: OperationModel) -> _Route:
    uri = operation.http["requestUri"]
    path, _, query = uri.partition("?")
    regex_parts = []
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            label = part[1:-1]
            greedy = label.endswith("+")
            group = re.sub(r"\W", "_", label.rstrip("+"))
            regex_parts.append(f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)")
        else:
            regex_parts.append(re.escape(part))
    literals = []
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        literals.append((key, value if eq else None))
    return _Route(
        operation.name,
        operation.http["method"],
        re.compile("".join(regex_parts) + "/?"),
        tuple(literals),
    )


@functools.cache
def _routes(model: ServiceModel) -> tuple[_Route, ...]:
    return tuple(_route(model.operation_model(name)) for name in model.operation_names)


def _rest_operation(model: ServiceModel, request: Request) -> OperationModel | None:
    best: tuple[int, str] | None = None
    for route in _routes(model):
        if route.method != request.method or not route.path.fullmatch(request.path):
            continue
        if any(
            k not in request.query or (v is not None and request.query[k][0] != v)
            for k, v in route.literals
        ):
            continue
        operation = model.operation_model(route.operation)
        located = _required_located(operation, request)
        if located is None:
            continue
        # The most specific route wins: GET /{Bucket}?list-type=2 over GET /{Bucket}; PUT with
        # x-amz-copy-source is CopyObject, with partNumber and uploadId too UploadPartCopy.
        score = len(route.literals) * 10 + located
        if best is None or score > best[0]:
            best = (score, route.operation)
    return model.operation_model(best[1]) if best else None


def _required_located(operation: OperationModel, request: Request) -> int | None:
    """How many required header/query members of `operation` the request carries; None when one
    is missing (then it calls another operation with the same URI)."""
    shape = operation.input_shape
    if shape is None:
        return 0
    count = 0
    for name in shape.required_members:
        member = shape.members[name]
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "header":
            if wire.lower() not in request.headers:
                return None
            count += 1
        elif location == "querystring":
            if wire not in request.query:
                return None
            count += 1
    return count


# --- the input a request carries -------------------------------------------------------------


def parse_input(operation: OperationModel, request: Request) -> dict[str, Any] | None:
    """The operation's input as the request carries it; None when the body cannot be parsed
    (malformed JSON is the service's own SerializationException, not a validation error)."""
    protocol = operation.service_model.metadata["protocol"]
    shape = operation.input_shape
    if shape is None:
        return {}
    try:
        if protocol == "json":
            body = json.loads(request.body or b"{}")
            return body if isinstance(body, dict) else None
        if protocol == "query":
            return _from_query(shape, _query_params(request), "")
        return _from_rest(operation, shape, request)
    except (ValueError, ElementTree.ParseError):
        return None


def _from_query(shape: StructureShape, params: dict[str, list[str]], prefix: str) -> dict:
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _query_value(member, params, key)
        if value is not None:
            result[name] = value
    return result


def _query_value(shape: Shape, params: dict[str, list[str]], key: str) -> Any:
    if isinstance(shape, StructureShape):
        if not any(k.startswith(key + ".") for k in params):
            return None
        return _from_query(shape, params, key + ".")
    if isinstance(shape, ListShape):
        base = key if shape.serialization.get("flattened") else key + ".member"
        items = []
        while (item := _query_value(shape.member, params, f"{base}.{len(items) + 1}")) is not None:
            items.append(item)
        # `Key=` with no members is how the query protocol sends an empty list.
        return items if items or key in params else None
    if isinstance(shape, MapShape):
        base = key if shape.serialization.get("flattened") else key + ".entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result, index = {}, 1
        while f"{base}.{index}.{key_name}" in params:
            entry_key = params[f"{base}.{index}.{key_name}"][0]
            result[entry_key] = _query_value(shape.value, params, f"{base}.{index}.{value_name}")
            index += 1
        return result or None
    if key not in params:
        return None
    return _scalar(shape, params[key][0])


def _scalar(shape: Shape, text: str) -> Any:
    """A string from a header, query string or XML element as the shape's type; text it is not
    (a malformed number) stays text, and is then not range-checked."""
    try:
        if shape.type_name in ("integer", "long"):
            return int(text)
        if shape.type_name in ("float", "double"):
            return float(text)
    except ValueError:
        return text
    if shape.type_name == "boolean":
        return text.lower() == "true"
    return text


def _from_rest(operation: OperationModel, shape: StructureShape, request: Request) -> dict:
    route = _route(operation)
    match = route.path.fullmatch(request.path)
    labels = match.groupdict() if match else {}
    result: dict[str, Any] = {}
    body_members = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            value = labels.get(re.sub(r"\W", "_", wire))
            if value is not None:
                result[name] = _scalar(member, value)
        elif location == "querystring":
            if isinstance(member, ListShape) and wire in request.query:
                result[name] = [_scalar(member.member, v) for v in request.query[wire]]
            elif wire in request.query and not isinstance(member, MapShape):
                result[name] = _scalar(member, request.query[wire][0])
        elif location == "header":
            if wire.lower() in request.headers:
                result[name] = _scalar(member, request.headers[wire.lower()])
        elif location == "headers":
            prefix = wire.lower()
            found = {
                k[len(prefix) :]: v for k, v in request.headers.items() if k.startswith(prefix)
            }
            if found:
                result[name] = found
        elif location is None:
            body_members[name] = member
    result.update(_rest_body(operation, shape, body_members, request))
    return result


def _rest_body(
    operation: OperationModel, shape: StructureShape, members: dict, request: Request
) -> dict:
    if not request.body:
        return {}
    payload = shape.serialization.get("payload")
    protocol = operation.service_model.metadata["protocol"]
    if payload is not None:
        member = shape.members[payload]
        if member.type_name == "string":  # a text payload (PutBucketPolicy's Policy)
            return {payload: request.body.decode("utf-8", "replace")}
        if not isinstance(member, StructureShape):
            return {}  # a blob payload: the object itself, not checked
        if protocol == "rest-json":
            return {payload: json.loads(request.body)}
        return {payload: _from_xml(member, _parse_xml(request.body))}
    if protocol == "rest-json":
        body = json.loads(request.body)
        return {k: v for k, v in body.items() if k in members} if isinstance(body, dict) else {}
    root = _parse_xml(request.body)
    return {name: v for name, m in members.items() if (v := _xml_child(m, root, name)) is not None}


def _parse_xml(body: bytes) -> ElementTree.Element:
    # The body comes from a client of a loopback server that moto parses next anyway; the
    # standard parser expands no external entities.
    return ElementTree.fromstring(body)  # noqa: S314


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml_child(shape: Shape, parent: ElementTree.Element, name: str) -> Any:
    wire = shape.serialization.get("name", name)
    found = [child for child in parent if _local(child.tag) == wire]
    if not found:
        return None
    if isinstance(shape, ListShape) and shape.serialization.get("flattened"):
        return [_from_xml(shape.member, child) for child in found]
    return _from_xml(shape, found[0])


def _from_xml(shape: Shape, element: ElementTree.Element) -> Any:
    if isinstance(shape, StructureShape):
        result = {}
        for name, member in shape.members.items():
            value = _xml_child(member, element, name)
            if value is not None:
                result[name] = value
        return result
    if isinstance(shape, ListShape):
        return [_from_xml(shape.member, child) for child in element]
    if isinstance(shape, MapShape):
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result = {}
        for entry in element:
            parts = {_local(c.tag): c for c in entry}
            if key_name in parts and value_name in parts:
                result[parts[key_name].text or ""] = _from_xml(shape.value, parts[value_name])
        return result
    return _scalar(shape, element.text or "")
