"""The front door's one code path: a request in, a reply out; Lambda and the local server
only translate their own request shapes into `FrontDoor.handle`.

    POST /models/{model}/invocations      text/csv rows or application/json
    → 200 {"model", "version", "variant", "inference_id", "predictions"}
    → 404 unknown model, 400 bad body, 413 over 6 MB (before the endpoint is called),
      424 model error, 429 + Retry-After, 503 endpoint not ready: {"code", "message"}
    GET /ping → 200 (a load balancer's or a test's readiness probe)

The manifest entry decides who answers (the champion, or the canary for its weight of route
keys), whether the request is mirrored to the shadow and whether it is captured
(routing.py). Shadow calls, metrics and capture writes go through the sidecar (sidecar.py):
they never fail the client's answer, and locally never delay it. A captured call is only
appended to the capture buffer on the request's thread (no task per record).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from mmeops.aws import Aws
from mmeops.deploy.body import BodyError, Rows, Shape, validate
from mmeops.deploy.manifest import ManifestEntry, Variant
from mmeops.errors import AwsError
from mmeops.invoker import endpoint_call, routing
from mmeops.invoker.capture import CaptureWriter, Flusher
from mmeops.invoker.manifest_cache import ManifestCache
from mmeops.invoker.metrics import Metrics
from mmeops.invoker.outcome import Outcome
from mmeops.invoker.reply import Refusal, Reply, json_reply
from mmeops.invoker.sidecar import Deadline, Detached

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


@dataclass(frozen=True)
class _Call:
    """One request on its way: what every outcome of it shares."""

    model: str
    entry: ManifestEntry
    rows: Rows
    inference_id: str
    key: str
    arrived: float  # epoch seconds
    started: float  # perf_counter at arrival


class FrontDoor:
    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        *,
        sidecar: Detached | Deadline | None = None,
        metrics: Metrics | None = None,
        capture: CaptureWriter | None = None,
        flusher: Flusher | None = None,
    ):
        self.settings = settings
        self.aws = aws
        self.manifest = ManifestCache(
            aws, settings.bucket, settings.manifest_key, settings.manifest_max_age
        )
        self.sidecar = sidecar or Detached()
        self.metrics = metrics
        self.capture = capture
        self.flusher = flusher

    def close(self) -> None:
        """Stop serving for good: shadow calls in flight end, and what is buffered for
        capture is written now (a stopped front door keeps every record it answered; the
        flusher would have waited up to 5 s, and dies with the process)."""
        self.sidecar.drain(30)
        try:  # a refused last write is raised: the user learns those records are lost
            if self.flusher is not None:
                self.flusher.stop()  # its last flush
            elif self.capture is not None:
                self.capture.flush()
        finally:
            if self.metrics is not None:
                self.metrics.stream.close()

    def identity(self) -> str:
        """Who the front door calls AWS as (an ARN: its Lambda role's session, say)."""
        return self.aws.call("sts", "get_caller_identity")["Arn"]

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
        finally:
            self.sidecar.settle()  # Lambda: what runs beside the answer ends with it

    def _invoke(self, model: str, headers: dict[str, str], body: bytes) -> Reply:
        arrived, started = time.time(), time.perf_counter()
        try:
            manifest = self.manifest.get()
        except AwsError as e:  # never read yet, and S3 refuses (403 without ListBucket, say)
            raise Refusal(
                503, "ManifestUnavailable", f"the routing manifest cannot be read: {e.code}"
            ).retry_after(endpoint_call.RETRY_THROTTLED) from None
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
        key = headers.get("x-route-key") or inference_id
        call = _Call(model, entry, rows, inference_id, key, arrived, started)
        shadow = routing.mirrored(entry, key)
        if shadow is not None:  # beside the answering call, never in its way
            self.sidecar.run(lambda: self._shadow(call, shadow))
        answering = routing.answering(entry, key)
        version = answering.version if answering else entry.version
        target = answering.target_model if answering else entry.target_model
        variant = answering.role if answering else "champion"
        called = time.perf_counter()
        try:
            predictions = endpoint_call.call(
                self.aws, self.settings.endpoint_name, target, rows.csv, inference_id
            )
        except Refusal as r:
            self._observe(call, version, variant, r.status, r.code, (), called, r.reply().body)
            raise
        answer = {
            "model": model,
            "version": version,
            "variant": variant,
            "inference_id": inference_id,
            "predictions": predictions,
        }
        output = json.dumps(predictions, separators=(",", ":")).encode()  # what the model said
        self._observe(call, version, variant, 200, "", predictions, called, output)
        return json_reply(200, answer)

    def _shadow(self, call: _Call, shadow: Variant) -> None:
        called = time.perf_counter()
        try:
            predictions = endpoint_call.call(
                self.aws, self.settings.endpoint_name, shadow.target_model, call.rows.csv,
                call.inference_id,
            )  # fmt: skip
        except Refusal as r:
            self._observe(call, shadow.version, "shadow", r.status, r.code, (), called, b"")
            return
        output = json.dumps(predictions, separators=(",", ":")).encode()
        self._observe(call, shadow.version, "shadow", 200, "", predictions, called, output)

    def _observe(
        self,
        call: _Call,
        version: int,
        variant: str,
        status: int,
        error: str,
        predictions,
        called: float,
        output: bytes,
    ) -> None:
        """Metrics for every call; capture for the sampled share. The model's time is from
        `called` to now; the overhead is the rest of the request (none for a shadow)."""
        now = time.perf_counter()
        model_ms = (now - called) * 1000
        overhead = 0.0 if variant == "shadow" else (called - call.started) * 1000
        o = Outcome(
            self.settings.environment, call.model, version, variant, call.inference_id,
            call.arrived, call.rows.count, call.rows.csv, status, error, tuple(predictions),
            model_ms, overhead,
        )  # fmt: skip
        if self.metrics is not None:
            self.sidecar.run(lambda: self.metrics.record(o))
        capture = self.capture
        # An append on this thread; a full buffer is written off the answer's path.
        if capture and routing.captured(call.entry.capture, call.key) and capture.add(o, output):
            self.sidecar.run(capture.flush)


def _inference_id(headers: dict[str, str]) -> str:
    given = headers.get("x-inference-id")
    if given is None:
        return str(uuid.uuid4())
    if not _INFERENCE_ID.fullmatch(given):
        raise Refusal(
            400,
            "BadInferenceId",
            "X-Inference-Id must be 1-64 printable characters, no leading space",
        )
    return given
