"""Who is calling: the principal behind a request's access key.

- the stack's base keys: the runner before configure-aws-credentials (`RUNNER`), whose only
  power is to reach the roles a workflow's OIDC token would reach (see `decide.runner_hop`);
- the stack's admin keys (`ADMIN`): the stack seeding and inspecting its world, and tests that
  need more than the product has; never the product's roles widened;
- keys STS minted (AssumeRole, AssumeRoleWithWebIdentity): recorded here when STS answers,
  with the role, account, expiry, whether the session came from another role's session
  (role chaining, capped at one hour: IAM User Guide, id_roles_terms-and-concepts.html
  "Role chaining") and, for web identity, the token's claims.

`MMEOPS_STACK_SESSION_SECONDS` (or `set_session_cap`) shortens every session so a test can see
one expire (`ExpiredToken`) in seconds.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from mmeops.stack.iam.policy import Caller

RUNNER_ACCOUNT_ID = "123456789012"
ADMIN_ACCESS_KEY_ID = "AKIAMMEOPSSTACKADMIN"
ADMIN_SECRET_ACCESS_KEY = "mmeops-embedded-stack-admin-secret"  # noqa: S105 (fake, for moto)
CHAINED_CAP_SECONDS = 3600
SESSION_ENV = "MMEOPS_STACK_SESSION_SECONDS"


@dataclass(frozen=True)
class Session:
    """One principal the middleware can name."""

    kind: str  # "runner", "admin", "role"
    caller: Caller
    expires: float | None = None  # epoch seconds
    chained: bool = False
    claims: dict = field(default_factory=dict)
    session_name: str = ""

    @property
    def role_name(self) -> str:
        return (self.caller.role_arn or "").rsplit("/", 1)[-1]


RUNNER = Session(
    "runner", Caller(f"arn:aws:iam::{RUNNER_ACCOUNT_ID}:user/github-runner", RUNNER_ACCOUNT_ID)
)
ADMIN = Session(
    "admin", Caller(f"arn:aws:iam::{RUNNER_ACCOUNT_ID}:user/mmeops-stack-admin", RUNNER_ACCOUNT_ID)
)

_lock = threading.Lock()
_sessions: dict[str, Session] = {}
_cap: float | None = None


def set_session_cap(seconds: float | None) -> None:
    """Every session minted from now on lasts at most `seconds` (None: AWS's own limits)."""
    global _cap
    _cap = seconds


def session_seconds(requested: int | None, chained: bool, max_session: int) -> float:
    """How long a new session lasts: what was asked (default one hour), at most the role's
    MaxSessionDuration, one hour when chained (AWS answers a longer request with an error,
    `reject_duration` below), and the test override."""
    seconds = float(requested or 3600)
    seconds = min(seconds, max_session)
    if chained:
        seconds = min(seconds, CHAINED_CAP_SECONDS)
    override = _cap if _cap is not None else _env_cap()
    return min(seconds, override) if override else seconds


def _env_cap() -> float | None:
    value = os.environ.get(SESSION_ENV)
    return float(value) if value else None


def reject_duration(requested: int | None, chained: bool, max_session: int) -> str | None:
    """AWS's message when DurationSeconds exceeds what the role or role chaining allows
    (STS API reference, AssumeRole: DurationSeconds)."""
    if requested is None:
        return None
    limit = min(max_session, CHAINED_CAP_SECONDS) if chained else max_session
    if requested > limit:
        return (
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            if not chained or max_session <= CHAINED_CAP_SECONDS
            else "The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining."
        )
    return None


def record(access_key_id: str, session: Session) -> None:
    with _lock:
        _sessions[access_key_id] = session


def lookup(access_key_id: str, base_key: str) -> Session | None:
    if access_key_id == base_key:
        return RUNNER
    if access_key_id == ADMIN_ACCESS_KEY_ID:
        return ADMIN
    with _lock:
        return _sessions.get(access_key_id)


def expired(session: Session) -> bool:
    return session.expires is not None and time.time() >= session.expires


def reset() -> None:
    with _lock:
        _sessions.clear()
    set_session_cap(None)
