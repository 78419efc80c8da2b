"""The capture line, built from a template for speed, is exactly the JSON of the Data Capture
record (AWS docs, "Capture data from real-time endpoint": `captureData.endpointInput` /
`endpointOutput` with observedContentType, mode, data, encoding; `eventMetadata` with eventId,
inferenceId, inferenceTime; `eventVersion` "0"), plus mmeops's own object. Fast: no stack."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest

from mmeops.invoker import capture
from mmeops.invoker.outcome import Outcome

WHEN = 1_796_000_000.123456  # 2026-11-29T...


def outcome(**over) -> Outcome:
    base = dict(
        environment="prod", model="breast-cancer", version=7, variant="canary",
        inference_id="customer \"42\" \\ é?", time=WHEN, rows=2, request=b"0.5,,1\n2,3,4",
        status=200, error="", predictions=(0.1, 0.2), model_ms=12.3456789, overhead_ms=0.4,
    )  # fmt: skip
    return Outcome(**{**base, **over})


def expected(o: Outcome, output: bytes, event_id: str) -> dict:
    """The record, written out field by field from the format's documentation."""
    when = dt.datetime.fromtimestamp(o.time, dt.timezone.utc)
    return {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                              "data": o.request.decode(), "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": output.decode(), "encoding": "JSON"},
        },
        "eventMetadata": {
            "eventId": event_id,
            "inferenceId": o.inference_id,
            "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        },
        "eventVersion": "0",
        "mmeops": {"variant": o.variant, "version": o.version, "status": o.status,
                   "error": o.error, "model_latency_ms": round(o.model_ms, 3), "rows": o.rows},
    }  # fmt: skip


@pytest.mark.parametrize(
    "o, output",
    [
        (outcome(), b"[0.1,0.2]"),
        (outcome(time=WHEN + 0.9999), b"[[1,2],[3,4]]"),
        (outcome(status=424, error="ModelError", model_ms=3.0, variant="shadow"),
         b'{"code":"ModelError","message":"m failed: \\"boom\\"\\n"}'),
    ],
)  # fmt: skip
def test_a_line_is_the_json_of_the_documented_record(o, output):
    event_id = str(uuid.uuid4())
    line = capture.line(o, output, event_id)
    assert line == json.dumps(expected(o, output, event_id), separators=(",", ":"))
    assert "\n" not in line  # one record per JSONL line


def test_event_ids_are_distinct_version_4_uuids():
    ids = capture._event_ids(500)
    assert len(set(ids)) == 500
    for i in ids:
        u = uuid.UUID(i)
        assert str(u) == i and u.version == 4 and u.variant == uuid.RFC_4122


def test_the_prefix_is_the_hour_folder_of_the_call():
    o = outcome(time=dt.datetime(2026, 3, 4, 5, 59, 59, 999000, dt.timezone.utc).timestamp())
    assert capture.prefix(o) == "capture/prod/breast-cancer/v7/canary/2026/03/04/05/"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT05:59:59\.999Z", capture._inference_time(o.time))


def test_a_full_buffer_asks_for_a_flush_until_it_is_written():
    """In Lambda (one record a batch) a flush cut at the deadline leaves the record buffered:
    the next call must ask again, or capture would stop for the environment's lifetime."""
    writer = capture.CaptureWriter(aws=None, bucket="b", max_records=2)
    assert writer.add(outcome(), b"[1]") is False
    assert writer.add(outcome(), b"[1]") is True
    assert writer.add(outcome(), b"[1]") is True  # the flush asked for did not happen
