"""The one boundary between mmeops and boto3.

Everything above this module sees plain dicts and lists and the project's own errors
(`NotFound`, `PreconditionFailed`, `AwsError`), never `botocore.exceptions.ClientError`.
Endpoints come from the standard `AWS_ENDPOINT_URL*` variables, so the same code talks to
real AWS and to the embedded stack.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.loaders
import botocore.session

from mmeops.errors import AwsError, MmeopsError, NotFound, PreconditionFailed

# Adaptive retries: throttling (30% of calls in the reliability tests) backs off and converges
# instead of failing the apply. Ten attempts cover a long burst without hiding a real outage.
RETRY_CONFIG = botocore.config.Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=32,
)

_NOT_FOUND_CODES = {
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "404",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "NoSuchEntity",
}
_NOT_FOUND_PHRASES = ("could not find", "does not exist", "not found", "cannot find")

# Listeners see every AWS call as (service, operation, request), or with `with_account=True` as
# (account_id, service, operation, request), where `request` is botocore's serialized request
# dict (url_path, query_string, headers, body) at its "before-call" event. Benchmarks and the
# reliability tests count and classify calls with them. Read-only by contract.
CallListener = Callable[..., None]
_listeners: list[tuple[CallListener, bool]] = []


def add_call_listener(listener: CallListener, *, with_account: bool = False) -> Callable[[], None]:
    """Register a listener for every call made through this module; returns a remover."""
    entry = (listener, with_account)
    _listeners.append(entry)
    return lambda: _listeners.remove(entry)


MUTATING_PREFIXES = (
    "Put",
    "Create",
    "Delete",
    "Update",
    "Copy",
    "Upload",
    "Complete",
    "Abort",
    "Register",
    "Deregister",
    "Publish",
    "Start",
    "Stop",
    "Add",
    "Remove",
    "Tag",
    "Untag",
    "Send",
)


def is_mutating(operation: str) -> bool:
    return operation.startswith(MUTATING_PREFIXES)


def _translate(operation: str, error: botocore.exceptions.ClientError) -> AwsError:
    err = error.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    message = str(err.get("Message", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("PreconditionFailed", "412") or status == 412:
        return PreconditionFailed(operation, code, message or "precondition failed", status)
    if (
        code in _NOT_FOUND_CODES
        or status == 404
        or any(p in message.lower() for p in _NOT_FOUND_PHRASES)
    ):
        return NotFound(operation, code, message or "not found", status)
    details = {k: v for k, v in error.response.items() if k not in ("Error", "ResponseMetadata")}
    return AwsError(operation, code, message, status, details)


def _unreachable(operation: str, error: botocore.exceptions.BotoCoreError) -> AwsError:
    """Errors below the API (no credentials, a connection refused, an unparsable answer) as
    one line naming the operation; botocore's messages carry URLs, never secrets."""
    return AwsError(operation, type(error).__name__, str(error))


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


class Aws:
    """AWS as one account and region sees it. Thread-safe: clients are created once."""

    def __init__(self, session: boto3.Session, region: str, account_id: str | None = None):
        self.session = session
        self.region = region
        self.account_id = account_id
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                c = self.session.client(service, region_name=self.region, config=RETRY_CONFIG)
                c.meta.events.register("before-call.*.*", self._notify)
                self._clients[service] = c
            return self._clients[service]

    def _notify(self, model, params, **_kwargs) -> None:
        service = model.service_model.service_name
        for listener, with_account in list(_listeners):
            if with_account:
                listener(self.account_id, service, model.name, params)
            else:
                listener(service, model.name, params)

    def call(self, service: str, operation: str, **params: Any) -> dict:
        """Call one API operation (snake_case name); AWS errors become the project's own."""
        method = getattr(self.client(service), operation)
        try:
            response = method(**params)
        except botocore.exceptions.ClientError as e:
            raise _translate(operation, e) from None
        except botocore.exceptions.BotoCoreError as e:
            raise _unreachable(operation, e) from None
        response.pop("ResponseMetadata", None)
        return response

    def paginate(self, service: str, operation: str, key: str, **params: Any) -> Iterator[dict]:
        """Yield every item under `key` across all pages."""
        paginator = self.client(service).get_paginator(operation)
        try:
            for page in paginator.paginate(**params):
                yield from page.get(key, [])
        except botocore.exceptions.ClientError as e:
            raise _translate(operation, e) from None
        except botocore.exceptions.BotoCoreError as e:
            raise _unreachable(operation, e) from None

    # --- S3, the calls every stage needs -------------------------------------------------

    def get_bytes(self, bucket: str, key: str) -> tuple[bytes, str]:
        """The object's body and ETag; NotFound when absent."""
        r = self.call("s3", "get_object", Bucket=bucket, Key=key)
        return r["Body"].read(), r["ETag"]

    def head(self, bucket: str, key: str) -> dict | None:
        try:
            return self.call("s3", "head_object", Bucket=bucket, Key=key)
        except NotFound:
            return None

    def put_bytes(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        kms_key_id: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Write an object, optionally conditionally; returns the new ETag.

        `if_match` replaces only the version we read; `if_none_match` creates only.
        Either raises PreconditionFailed when another writer got there first.
        """
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body}
        if if_match is not None:
            params["IfMatch"] = if_match
        if if_none_match:
            params["IfNoneMatch"] = "*"
        if content_type:
            params["ContentType"] = content_type
        params.update(sse_params(kms_key_id))
        return self.call("s3", "put_object", **params)["ETag"]

    def upload_file(self, path: str, bucket: str, key: str, kms_key_id: str | None = None) -> None:
        try:
            self.client("s3").upload_file(
                path, bucket, key, ExtraArgs=sse_params(kms_key_id) or None
            )
        except botocore.exceptions.ClientError as e:
            raise _translate("upload_file", e) from None
        except botocore.exceptions.BotoCoreError as e:
            raise _unreachable("upload_file", e) from None
        except boto3.exceptions.S3UploadFailedError as e:
            raise AwsError("upload_file", "S3UploadFailed", str(e)) from None

    def download_file(self, bucket: str, key: str, path: str) -> None:
        try:
            self.client("s3").download_file(bucket, key, path)
        except botocore.exceptions.ClientError as e:
            raise _translate("download_file", e) from None
        except botocore.exceptions.BotoCoreError as e:
            raise _unreachable("download_file", e) from None

    def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        pages = self.paginate("s3", "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
        return [ObjectInfo(o["Key"], o["Size"], o["ETag"]) for o in pages]


def sse_params(kms_key_id: str | None) -> dict[str, str]:
    if not kms_key_id:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


def partition(region: str) -> str:
    """The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`, ...), from botocore's
    own endpoint data; `aws` for a region it does not know (a new one)."""
    try:
        return botocore.session.get_session().get_partition_for_region(region)
    except botocore.exceptions.UnknownRegionError:
        return "aws"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


# --- sessions per account -------------------------------------------------------------------

# One session per (account, region, role): a read-only registry role and the training role
# reach the same account with different rights.
_sessions: dict[tuple[str, str, str], Aws] = {}
_sessions_lock = threading.Lock()


class _UniquePaths(list):
    """A loader's search paths: boto3 appends its own data path for every Session it builds."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_loader: botocore.loaders.Loader | None = None


def botocore_session() -> botocore.session.Session:
    """A botocore session sharing the process's one data loader. botocore reads and parses its
    JSON service models once per loader, and a loader per session made each new session (one
    per account and role here, many more in the embedded stack) cost about a second of CPU."""
    global _loader
    with _sessions_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
            _loader._search_paths = _UniquePaths(_loader.search_paths)
    core = botocore.session.Session()
    core.register_component("data_loader", _loader)
    return core


def base_session() -> boto3.Session:
    return boto3.Session(botocore_session=botocore_session())


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _local_endpoint_answers() -> None:
    """An AWS_ENDPOINT_URL on this machine (the embedded stack's) where nothing listens is a
    stack that stopped while its variables stayed: say so at once, instead of after 30 s of
    retries (issue 27). Real endpoints are not probed."""
    url = urllib.parse.urlsplit(os.environ.get("AWS_ENDPOINT_URL", ""))
    if url.hostname not in _LOOPBACK or not url.port:
        return
    try:
        socket.create_connection((url.hostname, url.port), timeout=2).close()
    except OSError:
        raise MmeopsError(
            f"AWS_ENDPOINT_URL points at {url.scheme}://{url.netloc}, where nothing answers: "
            'the embedded stack is down; start it (`mmeops stack up`, then eval "$(mmeops '
            'stack env)"), or unset the AWS_ENDPOINT_URL* variables to reach AWS'
        ) from None


class _AssumedRole(botocore.credentials.CredentialProvider):
    """`role_arn`'s session, assumed from `base` and assumed again before it expires.

    On a runner the ambient credentials are already a role's session (OIDC), so this hop is
    role chaining, which AWS caps at one hour whatever the role allows (IAM User Guide,
    "Role chaining"; STS AssumeRole, DurationSeconds): a process that outlives it (a long
    apply waiting on an endpoint, a tuning wait) would meet ExpiredToken. botocore's
    RefreshableCredentials calls `fetch` again when the session nears the `Expiration` STS
    returned; its default margins (15 and 10 min before) are scaled down to the session's
    length so a short session is not assumed again on every request."""

    METHOD = "mmeops-assume-role"

    def __init__(self, base: Aws, role_arn: str):
        self.base = base
        self.role_arn = role_arn

    def fetch(self) -> dict:
        creds = self.base.call(
            "sts", "assume_role", RoleArn=self.role_arn, RoleSessionName="mmeops"
        )["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    def load(self) -> botocore.credentials.RefreshableCredentials:
        first = self.fetch()
        ends = datetime.datetime.fromisoformat(first["expiry_time"])
        lifetime = (ends - datetime.datetime.now(datetime.UTC)).total_seconds()
        return botocore.credentials.RefreshableCredentials.create_from_metadata(
            first,
            refresh_using=self.fetch,
            method=self.METHOD,
            advisory_timeout=min(15 * 60, lifetime / 3),
            mandatory_timeout=min(10 * 60, lifetime / 6),
        )


def _assumed_session(base: Aws, role_arn: str) -> boto3.Session:
    core = botocore_session()
    provider = _AssumedRole(base, role_arn)
    core.register_component(
        "credential_provider", botocore.credentials.CredentialResolver([provider])
    )
    core.get_credentials()  # assume now: a refused trust is an error here, not at first use
    return boto3.Session(botocore_session=core)


def for_account(account_id: str, region: str, role_arn: str) -> Aws:
    """AWS as `account_id` sees it: the ambient credentials when they already belong to that
    account (a runner that assumed the role through OIDC), otherwise the role assumed from them.
    """
    with _sessions_lock:
        cached = _sessions.get((account_id, region, role_arn))
        if cached is not None:
            return cached
    _local_endpoint_answers()
    base = Aws(base_session(), region)
    identity = base.call("sts", "get_caller_identity")
    if identity["Account"] == account_id:
        aws = Aws(base.session, region, account_id)
    else:
        aws = Aws(_assumed_session(base, role_arn), region, account_id)
    with _sessions_lock:
        _sessions[(account_id, region, role_arn)] = aws
    return aws


def reset_sessions() -> None:
    """Forget cached sessions (tests that restart the embedded stack call this)."""
    with _sessions_lock:
        _sessions.clear()
