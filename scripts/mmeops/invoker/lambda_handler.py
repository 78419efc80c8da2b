"""The front door as an AWS Lambda function behind a Function URL (payload format 2.0).

Configured by the template (infra/invoker.yaml) through environment variables; the FrontDoor,
its boto3 clients and its manifest cache live as long as the execution environment, so a warm
invocation costs one InvokeEndpoint and, at most once a second, a conditional GET.

Event shape (AWS docs, "Invoking Lambda function URLs", payload format 2.0): `rawPath`,
`headers` (lower-case names, repeated values comma-joined), `requestContext.http.method`,
`body` (base64 when `isBase64Encoded`). The answer: `statusCode`, `headers`, `body`.
"""

from __future__ import annotations

import base64
import os
import sys
from typing import Any

from mmeops.aws import Aws, base_session
from mmeops.invoker.capture import CaptureWriter
from mmeops.invoker.front_door import FrontDoor, Settings
from mmeops.invoker.metrics import Metrics
from mmeops.invoker.sidecar import Deadline

_door: FrontDoor | None = None


def settings_from_environment(env: dict[str, str]) -> Settings:
    return Settings(
        environment=env["MMEOPS_ENVIRONMENT"],
        region=env["AWS_REGION"],
        bucket=env["MMEOPS_BUCKET"],
        manifest_key=env["MMEOPS_MANIFEST_KEY"],
        endpoint_name=env["MMEOPS_ENDPOINT_NAME"],
        manifest_max_age=float(env.get("MMEOPS_MANIFEST_MAX_AGE", "1")),
    )


def door() -> FrontDoor:
    """Built on the first invocation (cold start), reused by the warm ones. Side work (shadow
    calls, capture) is cut 50 ms after the answer (sidecar.Deadline); capture is written per
    invocation; EMF metrics go to stdout, which Lambda sends to the function's log group."""
    global _door
    if _door is None:
        env = dict(os.environ)
        settings = settings_from_environment(env)
        aws = Aws(base_session(), settings.region)
        capture = CaptureWriter(
            aws,
            settings.bucket,
            env.get("MMEOPS_CAPTURE_KMS_KEY_ID") or None,
            max_records=int(env.get("MMEOPS_CAPTURE_FLUSH_RECORDS", "1")),
        )
        _door = FrontDoor(
            settings, aws, sidecar=Deadline(0.05), metrics=Metrics(sys.stdout), capture=capture
        )
    return _door


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    reply = door().handle(method, event.get("rawPath") or "/", headers, raw)
    return {
        "statusCode": reply.status,
        "headers": reply.headers,
        "body": reply.body.decode("utf-8"),
        "isBase64Encoded": False,
    }
