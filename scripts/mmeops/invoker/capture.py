"""Traffic capture in SageMaker Data Capture's JSONL record format, per model and variant.

Each record: `captureData.endpointInput` / `endpointOutput` (`observedContentType`, `mode`,
`data`, `encoding`), `eventMetadata` (`eventId`, `inferenceId`, `inferenceTime`) and
`eventVersion` "0" (AWS docs, "Capture data from real-time endpoint": the record shape Model
Monitor reads; ground truth merges on `inferenceId`). One addition, ignored by readers of the
format: `mmeops` holds the variant, version, status and model latency that `mmeops canary`
compares. A failed call is captured too (its output is the error JSON), so error rates can be
compared.

Objects: `capture/<env>/<model>/v<version>/<variant>/YYYY/MM/DD/HH/<uuid>.jsonl` in the
environment's bucket, written with SSE-KMS (the given key, else the account's aws/s3 key) and
never overwritten (a new uuid per flush). Records are buffered per object prefix and flushed
when a buffer holds `max_records` or its oldest record is `max_seconds` old (locally, by a
timer thread); in Lambda, per invocation.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from typing import Any

from mmeops import datacapture
from mmeops.aws import Aws
from mmeops.invoker.outcome import Outcome

log = logging.getLogger(__name__)


def record(o: Outcome, output: bytes) -> dict[str, Any]:
    when = dt.datetime.fromtimestamp(o.time, dt.timezone.utc)
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": o.request.decode("utf-8"),
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output.decode("utf-8"),
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceId": o.inference_id,
            "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        },
        "eventVersion": "0",
        "mmeops": {
            "variant": o.variant,
            "version": o.version,
            "status": o.status,
            "error": o.error,
            "model_latency_ms": round(o.model_ms, 3),
            "rows": o.rows,
        },
    }


def prefix(o: Outcome) -> str:
    when = dt.datetime.fromtimestamp(o.time, dt.timezone.utc)
    return datacapture.prefix(o.environment, o.model, o.version, o.variant, when)


class CaptureWriter:
    def __init__(
        self,
        aws: Aws,
        bucket: str,
        kms_key_id: str | None = None,
        max_records: int = 100,
        max_seconds: float = 5.0,
    ):
        self.aws, self.bucket, self.kms_key_id = aws, bucket, kms_key_id
        self.max_records, self.max_seconds = max_records, max_seconds
        # prefix -> (when its oldest record arrived, the calls not yet written)
        self._buffers: dict[str, tuple[float, list[tuple[Outcome, bytes]]]] = {}
        self._lock = threading.Lock()
        self.objects_written = 0

    def add(self, o: Outcome, output: bytes) -> str | None:
        """Buffer one call: an append under a lock, cheap enough for the request's own thread
        (a task per record on the side pool cost more than the record: the benchmark's
        capture_cost). The record is serialised at flush, in a batch. Returns the prefix
        when this record filled its buffer: the caller flushes it off the answer's path."""
        key = prefix(o)
        with self._lock:
            started, calls = self._buffers.setdefault(key, (time.monotonic(), []))
            calls.append((o, output))
            return key if len(calls) == self.max_records else None

    def flush(self, only: str | None = None, *, due_only: bool = False) -> None:
        """Write buffered records: one prefix's, those due (`due_only`), or all."""
        now = time.monotonic()
        with self._lock:
            keys = [
                k
                for k, (started, _) in self._buffers.items()
                if (only is None or k == only)
                and (not due_only or now - started >= self.max_seconds)
            ]
            taken = {k: self._buffers.pop(k)[1] for k in keys}
        for key, calls in taken.items():
            if calls:
                body = "".join(json.dumps(record(o, out), separators=(",", ":")) + "\n"
                               for o, out in calls)  # fmt: skip
                self._put(key + f"{uuid.uuid4()}.jsonl", body.encode())

    def _put(self, key: str, body: bytes) -> None:
        # Without a key, no SSE header: the bucket's default (SSE-KMS with its ArtifactKey,
        # infra/bootstrap.yaml) applies. "aws:kms" alone would pick the account's AWS-managed
        # aws/s3 key, which the roles are not granted (S3 PutObject docs).
        params: dict[str, Any] = {}
        if self.kms_key_id:
            params = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        self.aws.call(
            "s3",
            "put_object",
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/jsonl",
            IfNoneMatch="*",
            **params,
        )
        self.objects_written += 1


class Flusher:
    """Locally: flush what is due every `every` seconds, on a daemon thread."""

    def __init__(self, writer: CaptureWriter, every: float = 1.0):
        self.writer = writer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(every,), daemon=True)
        self._thread.start()

    def _loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.writer.flush(due_only=True)
            except Exception:  # keep flushing: a failed write loses its records, not the rest
                log.exception("capture flush")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.writer.flush()
