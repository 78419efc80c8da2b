"""Traffic capture in SageMaker Data Capture's JSONL record format, per model and variant.

Each record: `captureData.endpointInput` / `endpointOutput` (`observedContentType`, `mode`,
`data`, `encoding`), `eventMetadata` (`eventId`, `inferenceId`, `inferenceTime`) and
`eventVersion` "0" (AWS docs, "Capture data from real-time endpoint": the record shape Model
Monitor reads; ground truth merges on `inferenceId`). One addition, ignored by readers of the
format: `mmeops` holds the variant, version, status and model latency that `mmeops canary`
compares. A failed call is captured too (its output is the error JSON), so error rates can be
compared.

Objects: `capture/<env>/<model>/v<version>/<variant>/YYYY/MM/DD/HH/<uuid>.jsonl` in the
environment's bucket, written with SSE-KMS (the given key, else the bucket's default key) and
never overwritten (a new uuid per object).

What a captured call costs the request's thread: one list append under a lock. Everything
else (the object prefix, the record's JSON, the PutObject) happens at flush, in a batch, off
the answer's path: when the buffer holds `max_records` (the caller hands `flush` to its
sidecar) or its oldest record is `max_seconds` old (locally, the Flusher's timer thread); in
Lambda, per invocation. Profiled under the benchmark (py-spy, 8 clients, sample 1.0), the
capture path's cost was the record's building (datetime formatting, uuid4, a nested dict
through json.dumps: ~90 us a record on the shared CI machine) and one PutObject per 100
records (boto3 signing, and the embedded S3's own work in the same process); hence lines
built from a template with cached time strings, and bigger batches.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import threading
import time
import uuid
from typing import Any

from mmeops import datacapture
from mmeops.aws import Aws
from mmeops.invoker.outcome import Outcome

log = logging.getLogger(__name__)

_quote = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str


def line(o: Outcome, output: bytes, event_id: str) -> str:
    """One record as its JSONL line: exactly `json.dumps(record, separators=(",", ":"))` of
    the record described above (tests/invoker/test_capture.py holds the two equal), built
    from a template: json.dumps of the nested dict was the capture path's largest cost."""
    m = o.model_ms  # finite: json.dumps writes a float as its repr
    return (
        '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
        f'"data":{_quote(o.request.decode("utf-8"))},"encoding":"CSV"}},'
        '"endpointOutput":{"observedContentType":"application/json","mode":"OUTPUT",'
        f'"data":{_quote(output.decode("utf-8"))},"encoding":"JSON"}}}},'
        f'"eventMetadata":{{"eventId":"{event_id}","inferenceId":{_quote(o.inference_id)},'
        f'"inferenceTime":"{_inference_time(o.time)}"}},"eventVersion":"0",'
        f'"mmeops":{{"variant":{_quote(o.variant)},"version":{int(o.version)},'
        f'"status":{int(o.status)},"error":{_quote(o.error)},'
        f'"model_latency_ms":{float(round(m, 3))!r},"rows":{int(o.rows)}}}}}'
    )


def record(o: Outcome, output: bytes) -> dict[str, Any]:
    """The record as a dict (what a reader of the capture gets back)."""
    return json.loads(line(o, output, _event_ids(1)[0]))


def _inference_time(t: float) -> str:
    """ISO 8601 UTC with milliseconds and a Z, as Data Capture writes `inferenceTime`."""
    second, micro = divmod(round(t * 1_000_000), 1_000_000)  # as datetime rounds it
    return f"{_second(second)}.{micro // 1000:03d}Z"


@functools.lru_cache(maxsize=4)
def _second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _event_ids(n: int) -> list[str]:
    """n random (version 4) UUIDs from one urandom read: uuid.uuid4() per record cost more
    than the rest of its line."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for i in range(0, 16 * n, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40  # version 4
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[i : i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def prefix(o: Outcome) -> str:
    return _prefix(o.environment, o.model, o.version, o.variant, int(o.time // 3600))


@functools.lru_cache(maxsize=256)
def _prefix(env: str, model: str, version: int, variant: str, hour: int) -> str:
    when = dt.datetime.fromtimestamp(hour * 3600, dt.timezone.utc)
    return datacapture.prefix(env, model, version, variant, when)


class CaptureWriter:
    def __init__(
        self,
        aws: Aws,
        bucket: str,
        kms_key_id: str | None = None,
        max_records: int = 1000,
        max_seconds: float = 5.0,
    ):
        self.aws, self.bucket, self.kms_key_id = aws, bucket, kms_key_id
        self.max_records, self.max_seconds = max_records, max_seconds
        self._calls: list[tuple[Outcome, bytes]] = []  # not yet written, oldest first
        self._since = 0.0  # monotonic time of the oldest of them
        self._lock = threading.Lock()
        self.objects_written = 0

    def add(self, o: Outcome, output: bytes) -> bool:
        """Buffer one call (the request's thread: an append). True when the buffer is full:
        the caller then runs `flush` off the answer's path. Full, not "just filled": a flush
        that was cut (Lambda's deadline) or dropped must not leave the buffer unwritten."""
        with self._lock:
            if not self._calls:
                self._since = time.monotonic()
            self._calls.append((o, output))
            return len(self._calls) >= self.max_records

    def flush(self, *, due_only: bool = False) -> None:
        """Write what is buffered (with `due_only`, only once its oldest record is
        `max_seconds` old): one object per prefix."""
        with self._lock:
            if due_only and time.monotonic() - self._since < self.max_seconds:
                return
            calls, self._calls = self._calls, []
        groups: dict[tuple, list[tuple[Outcome, bytes]]] = {}
        for o, output in calls:
            hour = int(o.time // 3600)
            groups.setdefault((o.environment, o.model, o.version, o.variant, hour), []).append(
                (o, output)
            )
        for where, group in groups.items():
            ids = _event_ids(len(group))
            body = "".join(line(o, out, i) + "\n" for (o, out), i in zip(group, ids, strict=True))
            self._put(_prefix(*where) + f"{uuid.uuid4()}.jsonl", body.encode())

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
        self._thread = threading.Thread(
            target=self._loop, args=(every,), name="capture-flusher", daemon=True
        )
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
