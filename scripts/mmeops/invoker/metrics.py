"""Per-model metrics in CloudWatch Embedded Metric Format: one JSON object per call, which
CloudWatch Logs turns into metrics when Lambda writes it to stdout (AWS docs, "Specification:
Embedded metric format"); locally the same lines go to a file the demo and tests read.

Namespace `mmeops`, dimensions Environment / Model / Version / Variant (AWS publishes no
per-model metrics for multi-model endpoints). Metrics: Invocations, Errors and one count per
error class (ModelErrors 424, NotReady 429, Unavailable 503, OtherErrors), ModelLatency and
Overhead (milliseconds), Rows.
"""

from __future__ import annotations

import json
import threading
from typing import TextIO

from mmeops.invoker.outcome import Outcome

NAMESPACE = "mmeops"
DIMENSIONS = ["Environment", "Model", "Version", "Variant"]
ERROR_CLASSES = {424: "ModelErrors", 429: "NotReady", 503: "Unavailable"}
_METRICS = [
    {"Name": "Invocations", "Unit": "Count"},
    {"Name": "Errors", "Unit": "Count"},
    *({"Name": n, "Unit": "Count"} for n in [*ERROR_CLASSES.values(), "OtherErrors"]),
    {"Name": "ModelLatency", "Unit": "Milliseconds"},
    {"Name": "Overhead", "Unit": "Milliseconds"},
    {"Name": "Rows", "Unit": "Count"},
]


def emf(o: Outcome) -> dict:
    failed = o.status != 200
    klass = ERROR_CLASSES.get(o.status, "OtherErrors") if failed else ""
    record = {
        "_aws": {
            "Timestamp": int(o.time * 1000),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [DIMENSIONS], "Metrics": _METRICS}
            ],
        },
        "Environment": o.environment,
        "Model": o.model,
        "Version": str(o.version),
        "Variant": o.variant,
        "Invocations": 1,
        "Errors": int(failed),
        **{name: int(name == klass) for name in [*ERROR_CLASSES.values(), "OtherErrors"]},
        "ModelLatency": round(o.model_ms, 3),
        "Overhead": round(o.overhead_ms, 3),
        "Rows": o.rows,
        # Not metrics: searchable in Logs Insights beside them.
        "InferenceId": o.inference_id,
    }
    if o.error:
        record["ErrorCode"] = o.error
    return record


class Metrics:
    """Writes one EMF line per outcome to `stream` (stdout in Lambda, a file locally)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._lock = threading.Lock()

    def record(self, o: Outcome) -> None:
        line = json.dumps(emf(o), separators=(",", ":")) + "\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()
