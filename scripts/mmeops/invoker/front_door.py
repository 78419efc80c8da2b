"""The front door's one code path: a request in, a reply out; Lambda and the local server
only translate their own request shapes into `FrontDoor.handle`.

    POST /models/{model}/invocations      text/csv rows or application/json
    → 200 {"model", "version", "variant", "inference_id", "predictions"}
    → 404 unknown model, 400 bad body, 413 over 6 MB (before the endpoint is called),
      424 model error, 429 + Retry-After, 503 endpoint not ready: {"code", "message"}
    GET /ping → 200 (a load balancer's or a test's readiness probe)
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from mmeops.aws import Aws
from mmeops.deploy.body import BodyError, Shape, validate
from mmeops.invoker import endpoint_call
from mmeops.invoker.manifest_cache import ManifestCache
from mmeops.invoker.reply import Refusal, Reply, json_reply

_INVOCATIONS = re.compile(r"^/models/([^/]+)/invocations/?$")
# InvokeEndpointInput.InferenceId: 1-64 characters, pattern \A\S[\p{Print}]*\z (botocore).
_INFERENCE_ID = re.compile(r"\S[\x20-\x7e]{0,63}")


@dataclass(frozen=True)
class Settings:
    """Where one environment's front door reads and calls (Lambda: environment variables;
    locally: the environment file)."""

    environment: str
    region: str
    bucket: str
    manifest_key: str
    endpoint_name: str
    manifest_max_age: float = 1.0


class FrontDoor:
    def __init__(self, settings: Settings, aws: Aws):
        self.settings = settings
        self.aws = aws
        self.manifest = ManifestCache(
            aws, settings.bucket, settings.manifest_key, settings.manifest_max_age
        )

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """`headers` with lower-case names (HTTP/2 and Lambda's 2.0 events send them so)."""
        try:
            if path == "/ping" and method in ("GET", "HEAD"):
                return json_reply(200, {"environment": self.settings.environment})
            match = _INVOCATIONS.match(path)
            if match is None:
                raise Refusal(404, "UnknownPath", f"no such path {path[:100]!r}; POST to "
                              "/models/{model}/invocations")  # fmt: skip
            if method != "POST":
                raise Refusal(405, "MethodNotAllowed", f"{method} is not allowed; use POST")
            return self._invoke(unquote(match.group(1)), headers, body)
        except Refusal as r:
            return r.reply()

    def _invoke(self, model: str, headers: dict[str, str], body: bytes) -> Reply:
        started = time.perf_counter()
        manifest = self.manifest.get()
        entry = manifest.models.get(model) if manifest else None
        if entry is None:
            raise Refusal(
                404, "UnknownModel", f"{model[:100]!r} is not routed in {self.settings.environment}"
            )
        try:
            rows = validate(
                body, headers.get("content-type"), Shape(entry.feature_names, entry.feature_count)
            )
        except BodyError as e:
            code = "BodyTooLarge" if e.status == 413 else "BadBody"
            raise Refusal(e.status, code, e.message) from None
        inference_id = _inference_id(headers)
        predictions = endpoint_call.call(
            self.aws, self.settings.endpoint_name, entry.target_model, rows.csv, inference_id
        )
        del started  # measured by the metrics step
        return json_reply(
            200,
            {
                "model": model,
                "version": entry.version,
                "variant": "champion",
                "inference_id": inference_id,
                "predictions": predictions,
            },
        )


def _inference_id(headers: dict[str, str]) -> str:
    given = headers.get("x-inference-id")
    if given is None:
        return uuid.uuid4().hex
    if not _INFERENCE_ID.fullmatch(given):
        raise Refusal(
            400,
            "BadInferenceId",
            "X-Inference-Id must be 1-64 printable characters, no leading space",
        )
    return given
