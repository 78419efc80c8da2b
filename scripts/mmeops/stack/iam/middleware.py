"""The IAM middleware in front of moto (installed by `moto_server.MotoServer`, on by default):
every signed request is authorized as AWS would before moto sees it, and refused in the
service's own error format; STS answers are read back to learn each new session's principal.

Refusals are logged process-wide (`refusals()`); `expecting()` keeps a test's deliberate ones
apart (one `ledger.Ledger`, as the strict validator keeps). `disabled()` turns enforcement off
for a block (benchmarks only).
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from mmeops.stack import strict, strict_wire
from mmeops.stack.iam import actions, decide, sessions, store
from mmeops.stack.iam.actions import Call, Need
from mmeops.stack.iam.decide import Refusal
from mmeops.stack.iam.policy import Caller
from mmeops.stack.iam.sessions import Session
from mmeops.stack.ledger import Ledger

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/[0-9]{8}/([^/]+)/([^/]+)/aws4_request")
_REQUEST_ID = "mmeops-iam"
_PREFIX = {"monitoring": "cloudwatch", "sagemaker-runtime": "sagemaker"}
GITHUB_ISSUER = "token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Denied:
    """A refused request, as the log keeps it."""

    principal: str
    action: str
    resource: str
    message: str


@dataclass
class Log:
    allowed: int = 0
    denied: list[Denied] = field(default_factory=list)


_ledger = Ledger(Log)
expecting = _ledger.expecting  # a test that provokes refusals on purpose
disabled = _ledger.disabled  # benchmarks only
base_access_key = ""  # the runner's keys; set by MotoServer


def allowed() -> int:
    """How many requests were authorized outside `expecting()` blocks, in this process."""
    return _ledger.read(lambda log: log.allowed)


def refusals() -> list[Denied]:
    """Every request refused outside `expecting()` blocks, in this process."""
    return _ledger.read(lambda log: list(log.denied))


def _note(denied: Denied | None) -> None:
    def change(log: Log) -> None:
        if denied is None:
            log.allowed += 1
        else:
            log.denied.append(denied)

    _ledger.write(change)


# --- reading the request -------------------------------------------------------------------


@dataclass
class _Parsed:
    service: str  # signing name
    operation: object | None  # botocore OperationModel
    params: dict
    headers: dict[str, str]
    access_key: str | None
    region: str


def _parse(environ: dict) -> _Parsed | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query_string = environ.get("QUERY_STRING", "")
    match = _CREDENTIAL.search(auth) or _CREDENTIAL.search(unquote(query_string))
    headers = strict.request_headers(environ)
    query = parse_qs(query_string, keep_blank_values=True)
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
    if match is None:
        # Unsigned: only STS's web-identity call is unsigned on purpose (botocore sends it so).
        if "form-urlencoded" not in headers.get("content-type", "") and "Action" not in query:
            return None
        body = strict.read_body(environ)
        request = strict_wire.Request(method, path, query, headers, body)
        models = strict_wire.service_models("sts")
        operation = strict_wire.resolve(models, request)
        if operation is None or operation.name != "AssumeRoleWithWebIdentity":
            return None
        params = strict_wire.parse_input(operation, request) or {}
        return _Parsed("sts", operation, params, headers, None, "us-east-1")
    access_key, region, service = match.groups()
    models = strict_wire.service_models(service)
    if not models:
        return _Parsed(service, None, {}, headers, access_key, region)
    rest = models[0].metadata["protocol"] in ("rest-xml", "rest-json")
    body = None if rest else strict.read_body(environ)
    request = strict_wire.Request(method, path, query, headers, body)
    operation = strict_wire.resolve(models, request)
    if operation is not None and body is None and strict.wants_body(operation):
        request = strict_wire.Request(method, path, query, headers, strict.read_body(environ))
    params = (strict_wire.parse_input(operation, request) or {}) if operation is not None else {}
    return _Parsed(service, operation, params, headers, access_key, region)


# --- answers ---------------------------------------------------------------------------------


def _protocol(parsed: _Parsed) -> str:
    if parsed.operation is None:
        return "query"
    return parsed.operation.service_model.metadata["protocol"]


def _error(parsed: _Parsed, code: str, message: str, status: str):
    protocol = _protocol(parsed)
    if protocol == "rest-xml":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{escape(message)}</Message><RequestId>{_REQUEST_ID}</RequestId></Error>"
        )
        return status, [("Content-Type", "application/xml")], body.encode()
    if protocol in ("json", "rest-json"):
        json_code = code if code.endswith("Exception") else f"{code}Exception"
        version = parsed.operation.service_model.metadata.get("jsonVersion", "1.1")
        payload = {"__type": json_code, "message": message, "Message": message}
        content_type = (
            "application/json" if protocol == "rest-json" else f"application/x-amz-json-{version}"
        )
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", json_code)]
        return "400 Bad Request", headers, json.dumps(payload).encode()
    if parsed.service == "sns" and code == "AccessDenied":
        code = "AuthorizationError"  # SNS's own code for a refused call (API_Publish.html)
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>{_REQUEST_ID}</RequestId>"
        f"</ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], body.encode()


def _answer(start_response: Callable, answer) -> list[bytes]:
    status, headers, body = answer
    headers = [*headers, ("Content-Length", str(len(body))), ("x-amzn-RequestId", _REQUEST_ID)]
    start_response(status, headers)
    return [body]


def _denied(parsed: _Parsed, session: Session | None, refusal: Refusal):
    principal = session.caller.arn if session is not None else "anonymous"
    message = refusal.message(session) if session is not None else refusal.reason
    _note(Denied(principal, refusal.action, refusal.resource, message))
    return _error(parsed, "AccessDenied", message, "403 Forbidden")


def _expired(parsed: _Parsed):
    if _protocol(parsed) == "rest-xml":
        return _error(parsed, "ExpiredToken", "The provided token has expired.", "400 Bad Request")
    return _error(
        parsed,
        "ExpiredToken",
        "The security token included in the request is expired",
        "403 Forbidden",
    )


def _invalid(parsed: _Parsed):
    if _protocol(parsed) == "rest-xml":
        return _error(
            parsed,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            "403 Forbidden",
        )
    return _error(
        parsed,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        "403 Forbidden",
    )


# --- the middleware ----------------------------------------------------------------------------


# Where an allowed call's environ carries the caller's account, for an app that must know it.
CALLER_ACCOUNT = "mmeops.caller_account"


def middleware(app: Callable) -> Callable:
    def wrapped(environ: dict, start_response: Callable):
        if not _ledger.enabled:
            return app(environ, start_response)
        parsed = _parse(environ)
        if parsed is None:  # moto's own API, a health check: not AWS
            return app(environ, start_response)
        if parsed.access_key is None:
            return _web_identity(app, environ, start_response, parsed)
        session = sessions.lookup(parsed.access_key, base_access_key)
        if session is None:
            return _answer(start_response, _invalid(parsed))
        if sessions.expired(session):
            return _answer(start_response, _expired(parsed))
        if parsed.operation is None:
            if session.kind == "admin":
                return app(environ, start_response)
            refusal = Refusal(
                f"{parsed.service}:*", "*", "the embedded stack does not know this call"
            )
            return _answer(start_response, _denied(parsed, session, refusal))
        op = parsed.operation.name
        call = Call(
            _prefix(parsed),
            op,
            parsed.params,
            parsed.headers,
            session.caller.account,
            parsed.region,
        )
        needs = actions.needs(call)
        refusal = _authorize(session, needs, parsed.region)
        if refusal is not None:
            return _answer(start_response, _denied(parsed, session, refusal))
        if call.service == "s3" and op in ("GetObject", "HeadObject"):
            hidden = _hidden_missing_key(session, call)
            if hidden is not None:
                return _answer(start_response, _denied(parsed, session, hidden))
        _note(None)
        if call.service == "sts" and op == "AssumeRole":
            return _assume(app, environ, start_response, parsed, session)
        environ[CALLER_ACCOUNT] = session.caller.account
        return app(environ, start_response)

    return wrapped


def _prefix(parsed: _Parsed) -> str:
    name = parsed.operation.service_model.service_name
    return _PREFIX.get(name, _PREFIX.get(parsed.service, parsed.service))


def authorize_in_process(session: Session, call: Call) -> Refusal | None:
    """A call the stack makes in-process as a service's session (`service.held`), not over
    HTTP: judged as the request would be, and logged, so a test sees it refused."""
    if not _ledger.enabled:
        return None
    refusal = _authorize(session, actions.needs(call), call.region)
    if refusal is None:
        _note(None)
        return None
    _note(Denied(session.caller.arn, refusal.action, refusal.resource, refusal.message(session)))
    return refusal


def _authorize(session: Session, needs: list[Need], region: str) -> Refusal | None:
    if session.kind == "runner":
        for need in needs:
            if need.policy != "trust" or not decide.runner_may_assume(need.resource):
                return Refusal(
                    need.action,
                    need.resource,
                    f"no identity-based policy allows the {need.action} action",
                )
        return None
    return decide.authorize(session, needs, region)


def _hidden_missing_key(session: Session, call: Call) -> Refusal | None:
    """A missing key answers 403, not 404, to a caller without s3:ListBucket on the bucket
    (API_GetObject.html, API_HeadObject.html "Permissions"). The listing is judged with the
    key as s3:prefix."""
    bucket, key = call.params.get("Bucket", ""), call.params.get("Key", "")
    found = store.bucket(bucket)
    if found is None or session.kind == "admin":
        return None
    obj = found[1].keys.get(key)
    if obj is not None and not getattr(obj, "is_delete_marker", False):
        return None
    owner = found[0]
    need = Need(
        "s3:ListBucket", f"arn:aws:s3:::{bucket}", "bucket", owner, {"s3:prefix": key}, "bucket"
    )
    refusal = decide.authorize(session, [need], call.region)
    if refusal is None:
        return None
    return Refusal(f"s3:{'GetObject'}", f"arn:aws:s3:::{bucket}/{key}", refusal.reason)


# --- STS: new sessions -----------------------------------------------------------------------


def _buffered(app: Callable, environ: dict) -> tuple[str, list, bytes]:
    captured: dict = {}

    def start(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    body = b"".join(app(environ, start))
    return captured["status"], captured["headers"], body


def _access_key_of(body: bytes) -> str | None:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 (moto's own answer)
    except ElementTree.ParseError:
        return None
    found = next((e for e in root.iter() if e.tag.endswith("AccessKeyId")), None)
    return found.text if found is not None else None


_EXPIRATION = re.compile(rb"<Expiration>[^<]*</Expiration>")


def _with_expiration(headers: list, body: bytes, expires: float) -> tuple[list, bytes]:
    """STS's answer carrying the session's real end as `Credentials.Expiration`: moto writes
    now + the requested DurationSeconds, STS the duration it granted (a chained session at
    most one hour, AssumeRole's DurationSeconds in the STS API reference; the stack's test cap
    sooner), which is what a client schedules its refresh by. Rounded down to the second, as
    STS writes it."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    body = _EXPIRATION.sub(f"<Expiration>{stamp}</Expiration>".encode(), body, count=1)
    headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers]
    return headers, body


def _assume(app, environ, start_response, parsed: _Parsed, caller: Session):
    role_arn = parsed.params.get("RoleArn", "")
    role = store.role_of_arn(role_arn)
    chained = caller.kind == "role"
    max_session = int(role.max_session_duration or 3600) if role is not None else 3600
    requested = parsed.params.get("DurationSeconds")
    requested = int(requested) if requested is not None else None
    if caller.kind != "admin" and (
        problem := sessions.reject_duration(requested, chained, max_session)
    ):
        return _answer(
            start_response, _error(parsed, "ValidationError", problem, "400 Bad Request")
        )
    status, headers, body = _buffered(app, environ)
    key = _access_key_of(body) if status.startswith("200") else None
    if key is not None:
        account = role_arn.split(":")[4]
        name = parsed.params.get("RoleSessionName", "")
        kind = "admin" if caller.kind == "admin" else "role"
        seconds = sessions.session_seconds(requested, chained, max_session)
        session_caller = Caller(
            f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{name}",
            account,
            role_arn,
        )
        expires = time.time() + seconds
        sessions.record(key, Session(kind, session_caller, expires, chained, {}, name))
        headers, body = _with_expiration(headers, body, expires)
    start_response(status, headers)
    return [body]


def claims_of(token: str) -> dict | None:
    """A JWT's claims (its payload); the signature is not checked (the stack has no JWKS:
    docs/embedded-stack.md says so)."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _web_identity(app, environ, start_response, parsed: _Parsed):
    """AssumeRoleWithWebIdentity (id_roles_providers_oidc.html, API_AssumeRoleWithWebIdentity
    .html): an OIDC provider for the token's issuer must exist in the role's account, the
    token's `aud` be one of its client ids, the token unexpired, and the role's trust allow
    the provider with the token's claims as `ISSUER:sub`, `ISSUER:aud`."""
    role_arn = parsed.params.get("RoleArn", "")
    claims = claims_of(parsed.params.get("WebIdentityToken", ""))
    if claims is None:
        return _answer(
            start_response,
            _error(
                parsed,
                "InvalidIdentityToken",
                "Couldn't parse the provided web identity token.",
                "400 Bad Request",
            ),
        )
    issuer = str(claims.get("iss", "")).removeprefix("https://").rstrip("/")
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    provider = store.oidc_provider(account, issuer) if account else None
    if provider is None:
        return _answer(
            start_response,
            _error(
                parsed,
                "InvalidIdentityToken",
                f"No OpenIDConnect provider found in your account for https://{issuer}",
                "400 Bad Request",
            ),
        )
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if not set(audiences) & set(provider.client_id_list):
        return _answer(
            start_response,
            _error(parsed, "InvalidIdentityToken", "Incorrect token audience", "400 Bad Request"),
        )
    if "exp" in claims and float(claims["exp"]) < time.time():
        return _answer(
            start_response,
            _error(parsed, "ExpiredTokenException", "Token expired", "400 Bad Request"),
        )
    provider_arn = f"arn:aws:iam::{account}:oidc-provider/{issuer}"
    federated = Session("web", Caller(provider_arn, account, federated=provider_arn), claims=claims)
    context = {f"{issuer}:{k}": (v if isinstance(v, str) else v) for k, v in claims.items()}
    need = Need("sts:AssumeRoleWithWebIdentity", role_arn, "role", account, context, "trust")
    refusal = _trust_only(federated, need, parsed.region)
    if refusal is not None:
        _note(Denied(provider_arn, need.action, role_arn, "trust"))
        message = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        return _answer(start_response, _error(parsed, "AccessDenied", message, "403 Forbidden"))
    _note(None)
    role = store.role_of_arn(role_arn)
    max_session = int(role.max_session_duration or 3600)
    requested = parsed.params.get("DurationSeconds")
    requested = int(requested) if requested is not None else None
    if problem := sessions.reject_duration(requested, False, max_session):
        return _answer(
            start_response, _error(parsed, "ValidationError", problem, "400 Bad Request")
        )
    status, headers, body = _buffered(app, environ)
    key = _access_key_of(body) if status.startswith("200") else None
    if key is not None:
        name = parsed.params.get("RoleSessionName", "")
        caller = Caller(
            f"arn:aws:sts::{account}:assumed-role/{role.name}/{name}", account, role_arn
        )
        expires = time.time() + sessions.session_seconds(requested, False, max_session)
        sessions.record(key, Session("role", caller, expires, False, claims, name))
        headers, body = _with_expiration(headers, body, expires)
    start_response(status, headers)
    return [body]


def _trust_only(federated: Session, need: Need, region: str) -> Refusal | None:
    from mmeops.stack.iam.policy import Request, effects

    role = store.role_of_arn(need.resource)
    if role is None:
        return Refusal(need.action, need.resource, "the role does not exist")
    request = Request(need.action, need.resource, federated.caller, need.context)
    found = effects([role.assume_role_policy_document], request, resource_policy=True)
    if "Allow" in found and "Deny" not in found:
        return None
    return Refusal(need.action, need.resource, "no resource-based policy allows it")


# --- a server that is not moto -----------------------------------------------------------------


def guarding(app: Callable) -> Callable:
    """The same check in front of the local MME's `httpserve` app (sagemaker-runtime's
    InvokeEndpoint is not moto's to answer): the request goes through `middleware` as a WSGI
    environ; allowed, `app` answers it, told the caller's account (the runtime finds an
    endpoint in that account only); refused, the refusal in the runtime's error format."""

    def answer(method: str, path: str, headers, body: bytes):
        reached: list = []

        def inner(environ: dict, start_response: Callable) -> list[bytes]:
            reached.append(app(method, path, headers, body, environ.get(CALLER_ACCOUNT)))
            start_response("200 OK", [])
            return [b""]

        environ = _environ(method, path, headers, body)
        status, answered_headers, refusal = _buffered(middleware(inner), environ)
        if reached:
            return reached[0]
        return int(status.split()[0]), refusal, dict(answered_headers)

    return answer


def _environ(method: str, path: str, headers, body: bytes) -> dict:
    target, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": unquote(target),
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ
