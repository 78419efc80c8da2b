"""Strict requests: the embedded AWS refuses what real AWS refuses.

botocore checks on the client only required members, types and minimum lengths, and moto stores
whatever it is sent. AWS checks every request server-side against the service's model (enums,
patterns, lengths, ranges, list and map sizes). This WSGI middleware, installed in front of moto
by `moto_server.MotoServer` and always on, does the same with botocore's copy of those models
(strict_wire: which operation, which input; strict_rules: which constraints it breaks), and
answers a violation the way the service answers on its protocol, before moto sees the request:

- JSON protocols (SageMaker, Secrets Manager, Application Auto Scaling): HTTP 400
  `ValidationException`, message `1 validation error detected: Value 'X' at 'a.b' failed to
  satisfy constraint: Member must ...`;
- query protocol: HTTP 400 `<ErrorResponse>` with code `ValidationError` (STS), SNS with its
  own `InvalidParameter` (`Invalid parameter: <Name> Reason: ...`);
- S3: HTTP 400 `<Error>` `InvalidArgument` naming the header or parameter (`InvalidStorageClass`
  for a storage class), as S3 answers a bad argument.

Every violation is also written to a process-global log (`violations()`), which the test suite
checks at its end: a request anywhere in the suite that AWS would refuse fails the suite. Tests
that send invalid requests on purpose do it inside `expecting()`, which keeps them out of it.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from botocore.model import OperationModel

from mmeops.stack import strict_rules, strict_wire
from mmeops.stack.ledger import Ledger

# `Credential=AKID/20261122/us-east-1/s3/aws4_request`: the signed service name (a presigned
# URL carries it as X-Amz-Credential=AKID%2F...).
_SCOPE = re.compile(r"Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/aws4_request")
_REQUEST_ID = "mmeops-strict-validation"


@dataclass(frozen=True)
class Violation:
    """A refused request: the service, the operation and AWS's message for it."""

    service: str
    operation: str
    message: str


@dataclass
class Log:
    """What the validator saw: requests checked per service, and the violations."""

    checked: Counter = field(default_factory=Counter)
    unresolved: Counter = field(default_factory=Counter)  # "METHOD service" no operation matched
    violations: list[Violation] = field(default_factory=list)


_ledger = Ledger(Log)
expecting = _ledger.expecting  # a test that sends invalid requests on purpose
disabled = _ledger.disabled  # benchmarks only


def violations() -> list[Violation]:
    """Every violation this process's embedded AWS refused outside `expecting()` blocks."""
    return _ledger.read(lambda log: list(log.violations))


def checked() -> int:
    """How many requests the validator resolved and checked outside `expecting()` blocks."""
    return _ledger.read(lambda log: sum(log.checked.values()))


def summary() -> dict[str, dict[str, int]]:
    """Requests checked per service, and signed requests no operation of the models matched
    (they passed unchecked), outside `expecting()` blocks."""
    return _ledger.read(
        lambda log: {"checked": dict(log.checked), "unresolved": dict(log.unresolved)}
    )


def _record(service: str, operation: str, message: str | None) -> None:
    def change(log: Log) -> None:
        log.checked[service] += 1
        if message is not None:
            log.violations.append(Violation(service, operation, message))

    _ledger.write(change)


# --- the middleware ------------------------------------------------------------------------


def _headers(environ: dict) -> dict[str, str]:
    headers = {
        k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _read_body(environ: dict) -> bytes:
    """The request body, put back for moto to read again."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated") or environ.get("HTTP_TRANSFER_ENCODING"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _wants_body(operation) -> bool:
    """Whether validating needs the body: always but for an S3 object's own bytes, which may be
    large and are no member the model constrains."""
    shape = operation.input_shape
    if shape is None or operation.service_model.metadata["protocol"] not in (
        "rest-xml",
        "rest-json",
    ):
        return shape is not None
    payload = shape.serialization.get("payload")
    if payload is not None:
        # A structure, or a text payload (PutBucketPolicy's Policy); never a blob (an object).
        return shape.members[payload].type_name in ("structure", "string")
    return any(m.serialization.get("location") is None for m in shape.members.values())


# Shared with the IAM middleware (stack/iam/middleware.py), which reads requests the same way.
request_headers, read_body, wants_body = _headers, _read_body, _wants_body


def _validate(environ: dict) -> tuple[OperationModel, list[strict_rules.Problem], str] | None:
    """The operation a signed request calls, the problems of its input and their kind
    (`ValidationException`, or `SerializationException` for a JSON value of the wrong type);
    None when it is not one the models know (moto's own API, an unsigned request)."""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _SCOPE.search(
        unquote(environ.get("QUERY_STRING", ""))
    )
    if scope is None:
        return None
    models = strict_wire.service_models(scope.group(1))
    if not models:
        return None
    # JSON and query requests name their operation in a header or the (small) form body: read
    # it first. A REST request is resolved by method and path, its body read only if needed.
    rest = models[0].metadata["protocol"] in ("rest-xml", "rest-json")
    body = None if rest else _read_body(environ)
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
    request = strict_wire.Request(method, path, query, _headers(environ), body)
    operation = strict_wire.resolve(models, request)
    if operation is None:
        unmatched = f"{method} {scope.group(1)}"
        _ledger.write(lambda log: log.unresolved.update([unmatched]))
        return None
    if body is None and _wants_body(operation):
        request = strict_wire.Request(method, path, query, request.headers, _read_body(environ))
    params = strict_wire.parse_input(operation, request)
    if params is None:
        return operation, [], ""
    if operation.service_model.metadata["protocol"] in ("json", "rest-json"):
        wrong = strict_rules.mistyped(operation.input_shape, params)
        if wrong is not None:
            return operation, [wrong], "SerializationException"
    return operation, strict_rules.check(operation.input_shape, params), "ValidationException"


def _json_error(
    operation: OperationModel, code: str, message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of an error on a JSON protocol."""
    metadata = operation.service_model.metadata
    if metadata["protocol"] == "rest-json":
        body = json.dumps({"message": message})
        content_type = "application/json"
    else:
        body = json.dumps({"__type": code, "message": message})
        content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
    headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code)]
    return "400 Bad Request", headers, body.encode()


def _error(
    operation: OperationModel, problems: list[strict_rules.Problem], message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of the validation error of the operation's protocol."""
    metadata = operation.service_model.metadata
    protocol = metadata["protocol"]
    if protocol == "json":
        return _json_error(operation, "ValidationException", message)
    if protocol == "rest-json":  # the SageMaker runtime's code for a bad request
        return _json_error(operation, "ValidationError", message)
    if protocol == "query":
        code = "ValidationError"
        if operation.service_model.service_name == "sns":
            # SNS answers every bad parameter with its own InvalidParameter error (botocore's
            # InvalidParameterException), `Invalid parameter: <Name> Reason: ...`.
            code, message = "InvalidParameter", _sns_message(operation, problems[0])
        body = (
            f'<ErrorResponse xmlns="{escape(metadata.get("xmlNamespace", ""))}"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{_REQUEST_ID}</RequestId></ErrorResponse>"
        )
        return "400 Bad Request", [("Content-Type", "text/xml")], body.encode()
    return _s3_error(operation, problems[0])


def _top_member(operation: OperationModel, problem: strict_rules.Problem) -> str:
    """The input member a problem is in, by its model name (`Tags` for 'tags.1.member.key')."""
    top = problem.path.split(".")[0]
    return next(n for n in operation.input_shape.members if n[:1].lower() + n[1:] == top)


def _sns_message(operation: OperationModel, problem: strict_rules.Problem) -> str:
    return f"Invalid parameter: {_top_member(operation, problem)} Reason: {problem.message()}"


def _s3_error(
    operation: OperationModel, problem: strict_rules.Problem
) -> tuple[str, list[tuple[str, str]], bytes]:
    """S3 answers a bad argument with `InvalidArgument` naming it (the header or parameter as it
    travels), a bad storage class with `InvalidStorageClass`, a bad region with
    `InvalidLocationConstraint`, a missing body with `MalformedXML`; one error, not a list."""
    name = _top_member(operation, problem)
    member = operation.input_shape.members[name]
    wire = member.serialization.get("name", name)
    if problem.value is None and member.serialization.get("location") is None:
        code, text = (
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
    elif member.name == "StorageClass":
        code, text = "InvalidStorageClass", "The storage class you specified is not valid"
    elif problem.path.endswith(".locationConstraint"):
        code, text = "InvalidLocationConstraint", "The specified location-constraint is not valid"
    else:
        code, text = "InvalidArgument", problem.message()
    value = "" if problem.value is None else escape(str(problem.value))
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{escape(text)}</Message><ArgumentName>{escape(wire)}</ArgumentName>"
        f"<ArgumentValue>{value}</ArgumentValue><RequestId>{_REQUEST_ID}</RequestId></Error>"
    )
    return "400 Bad Request", [("Content-Type", "application/xml")], body.encode()


def middleware(app: Callable) -> Callable:
    """Wrap moto's WSGI app: a request AWS would refuse is answered here, as AWS answers it."""

    def wrapped(environ: dict, start_response: Callable):
        if not _ledger.enabled:
            return app(environ, start_response)
        try:
            result = _validate(environ)
        except Exception as e:
            # A request the validator cannot read is its own bug, not the client's: the
            # request goes on to moto, and the suite-wide check fails on the logged entry.
            where = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
            _record("strict", "validator", f"{type(e).__name__}: {e} ({where})")
            result = None
        if result is None:
            return app(environ, start_response)
        operation, problems, kind = result
        service, name = operation.service_model.service_name, operation.name
        if not problems:
            _record(service, name, None)
            return app(environ, start_response)
        if kind == "SerializationException":
            message = problems[0].message()
            status, headers, body = _json_error(operation, kind, message)
        else:
            message = strict_rules.summary(problems)
            status, headers, body = _error(operation, problems, message)
        _record(service, name, message)
        headers += [("Content-Length", str(len(body))), ("x-amzn-RequestId", _REQUEST_ID)]
        start_response(status, headers)
        return [body]

    return wrapped
