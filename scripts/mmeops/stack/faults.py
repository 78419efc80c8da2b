"""Fault injection for the embedded stack and its clients, used only by tests: throttling as
AWS answers it under load (processes killed between two writes: tests/crashing.py).

A WSGI middleware in front of moto (installed by `moto_server.MotoServer`, off until a test
turns it on) answers a seeded random share of signed AWS requests with the throttling error
of that service's protocol, before moto sees them, so nothing is half done:

- S3 (rest-xml): HTTP 503 `SlowDown`;
- query protocol (STS, SNS, ...): HTTP 400 `<ErrorResponse>` with code `Throttling`;
- JSON protocols (SageMaker, Application Auto Scaling, ...): HTTP 400 `ThrottlingException`.

botocore classes all three as throttling, so `mmeops.aws.RETRY_CONFIG` (adaptive, 10
attempts) retries them. Used only by tests (tests/deploy/test_throttling.py):

    with throttling(rate=0.3, seed=7) as faults:
        ...                    # every AWS call through this process's moto may be throttled
    assert faults.total > 0

Moto is process-global, so is this switch; one `throttling` block at a time.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# `Credential=AKID/20261122/us-east-1/s3/aws4_request`: the signed service name.
_SCOPE = re.compile(r"Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_SERVICES = {"sts", "sns", "sqs", "iam", "cloudformation", "monitoring", "ec2"}


@dataclass
class Throttling:
    """What the middleware does while on: `rate` of requests throttled, drawn from `seed`."""

    rate: float
    seed: int = 0
    services: frozenset[str] | None = None  # None: every signed request
    counts: Counter = field(default_factory=Counter)  # service -> throttled requests
    requests: Counter = field(default_factory=Counter)  # service -> requests seen

    def __post_init__(self) -> None:
        # One draw sequence per service: how many of a service's requests are throttled then
        # depends on the seed alone, not on how concurrent requests of others interleave.
        self._random: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def decide(self, service: str) -> bool:
        if self.services is not None and service not in self.services:
            return False
        with self._lock:
            self.requests[service] += 1
            draws = self._random.setdefault(service, random.Random(f"{self.seed}:{service}"))
            hit = draws.random() < self.rate
            if hit:
                self.counts[service] += 1
            return hit


_active: Throttling | None = None


@contextmanager
def throttling(
    rate: float, seed: int = 0, services: Iterable[str] | None = None
) -> Iterator[Throttling]:
    """Throttle `rate` of the embedded stack's AWS requests while the block runs."""
    global _active
    if _active is not None:
        raise RuntimeError("throttling is already on")
    _active = Throttling(rate, seed, frozenset(services) if services is not None else None)
    try:
        yield _active
    finally:
        _active = None


def _error(service: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of a throttling error in `service`'s protocol."""
    request_id = "mmeops-injected-throttle"
    if service == "s3":
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
            "<Message>Please reduce your request rate.</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return "503 Slow Down", [("Content-Type", "application/xml")], body.encode()
    if service in _QUERY_SERVICES:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        return "400 Bad Request", [("Content-Type", "text/xml")], body.encode()
    body = '{"__type": "ThrottlingException", "message": "Rate exceeded"}'
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", "Throttling")]
    return "400 Bad Request", headers, body.encode()


def middleware(app: Callable) -> Callable:
    """Wrap moto's WSGI app; passes everything through while throttling is off."""

    def wrapped(environ: dict, start_response: Callable):
        faults = _active
        if faults is not None:
            match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
            if match and faults.decide(match.group(1)):
                # Drain the body: the client is still sending it on a kept-alive connection.
                stream = environ.get("wsgi.input")
                length = int(environ.get("CONTENT_LENGTH") or 0)
                if stream is not None and length:
                    stream.read(length)
                status, headers, body = _error(match.group(1))
                headers.append(("Content-Length", str(len(body))))
                headers.append(("x-amzn-RequestId", "mmeops-injected-throttle"))
                start_response(status, headers)
                return [body]
        return app(environ, start_response)

    return wrapped
