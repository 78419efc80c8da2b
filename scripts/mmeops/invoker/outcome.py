"""One call the front door made (the answering version's, or a shadow's), as metrics and
capture see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    environment: str
    model: str
    version: int
    variant: str  # champion | canary | shadow
    inference_id: str
    time: float  # epoch seconds when the request arrived
    rows: int
    request: bytes  # the CSV sent to the endpoint
    status: int  # the front door's status for this call: 200, 424, 429, 503, ...
    error: str = ""  # the error code (ModelError, ModelNotReady, ...); "" when it answered
    predictions: tuple = ()
    model_ms: float = 0.0  # InvokeEndpoint, as the front door timed it
    overhead_ms: float = 0.0  # everything else the front door spent (0 for a shadow)
