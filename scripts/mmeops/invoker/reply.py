"""What the front door answers: a status, JSON, headers; errors as `{"code", "message"}`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Refusal(Exception):
    """An answer other than 200: HTTP status, a code a client can branch on, one sentence."""

    def __init__(self, status: int, code: str, message: str, **extra: object):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers: dict[str, str] = {}

    def retry_after(self, seconds: int) -> Refusal:
        self.headers["Retry-After"] = str(seconds)
        return self

    def reply(self) -> Reply:
        body = {"code": self.code, "message": self.message, **self.extra}
        return json_reply(self.status, body, self.headers)


def json_reply(status: int, data: dict, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status,
        json.dumps(data, separators=(",", ":")).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
