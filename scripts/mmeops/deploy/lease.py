"""One reconcile per environment at a time: a lease object in S3.

`<prefix>_mmeops/lease.json` holds the owner and an expiry. It is taken with a create-only
write (If-None-Match: *); a lease past its expiry is taken over with If-Match on the ETag read,
so two runners racing for a stale lease cannot both win. Released (deleted) at the end.

A run that dies (runner lost, process killed) leaves its lease behind. Nobody should wait for
the expiry to repair that: the lease is also taken over, with the same If-Match, by its own
owner. On GitHub the owner is the workflow run (`<repository> run <run id>`), which a re-run
of the failed job keeps, so "Re-run failed jobs" repairs a crashed apply at once. Anyone else
is refused with a message naming the owner, the lease's age and the two ways out: re-run that
run, or delete the lease object once sure it is dead (tests/deploy/test_crash.py).

A no-op apply writes nothing but this object: the take and the release are its only two
mutating calls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import socket
from dataclasses import dataclass

from mmeops.aws import Aws
from mmeops.errors import CorruptObject, LeaseHeld, MmeopsError, NotFound, PreconditionFailed

# Longer than the slowest apply (creating an endpoint and waiting for it takes up to an hour):
# a lease must not go stale under a live run. A dead run blocks for at most this long.
DEFAULT_TTL = dt.timedelta(hours=2)


def default_owner() -> str:
    """Who holds the lease, readable in the message another runner sees."""
    if os.environ.get("GITHUB_RUN_ID"):
        repo = os.environ.get("GITHUB_REPOSITORY", "github")
        return f"{repo} run {os.environ['GITHUB_RUN_ID']}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _age(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


@dataclass
class Lease:
    aws: Aws
    bucket: str
    key: str
    owner: str
    ttl: dt.timedelta = DEFAULT_TTL
    etag: str | None = None

    def _body(self) -> bytes:
        now = _now()
        return json.dumps(
            {
                "owner": self.owner,
                "acquired": now.isoformat(timespec="seconds"),
                "expires": (now + self.ttl).isoformat(timespec="seconds"),
            }
        ).encode()

    def acquire(self) -> Lease:
        """Take the lease or raise LeaseHeld naming its owner and age."""
        try:
            self.etag = self.aws.put_bytes(self.bucket, self.key, self._body(), if_none_match=True)
            return self
        except PreconditionFailed:
            pass
        try:
            body, etag = self.aws.get_bytes(self.bucket, self.key)
        except NotFound:  # released between our two calls: try once more from the start
            self.etag = self.aws.put_bytes(self.bucket, self.key, self._body(), if_none_match=True)
            return self
        owner, acquired, expires = self._parse(body)
        if expires > _now() and owner != self.owner:
            raise LeaseHeld(
                f"another reconcile holds the lease s3://{self.bucket}/{self.key}: owner "
                f"{owner}, taken {_age((_now() - acquired).total_seconds())} ago, expires in "
                f"{_age((expires - _now()).total_seconds())}; wait for it to finish. If that run "
                "died, re-run it (its re-run takes the lease over) or delete the lease object"
            )
        # Stale, or left by a dead run of our own owner: take it over, but only the very
        # version we judged (a racing runner's take-over makes our If-Match fail).
        try:
            self.etag = self.aws.put_bytes(self.bucket, self.key, self._body(), if_match=etag)
        except PreconditionFailed:
            raise LeaseHeld(
                f"another reconcile took over the stale lease s3://{self.bucket}/{self.key} "
                "first; try again when it finishes"
            ) from None
        return self

    def _parse(self, body: bytes) -> tuple[str, dt.datetime, dt.datetime]:
        """Owner, acquired and expiry of a lease object. One that does not parse proves no
        owner, so nobody may take it over: exit 1 naming the key (fields it does not know
        are ignored)."""
        try:
            held = json.loads(body.decode("utf-8"))
            owner = str(held.get("owner", "unknown"))
            acquired = dt.datetime.fromisoformat(held["acquired"])
            expires = dt.datetime.fromisoformat(held["expires"])
            if expires.tzinfo is None or acquired.tzinfo is None:
                raise ValueError("no time zone")  # would not compare with the clock
        except (ValueError, TypeError, KeyError, AttributeError):
            raise CorruptObject(
                f"the lease s3://{self.bucket}/{self.key} does not parse (owner, acquired and "
                "expires expected); if no reconcile of this environment is running, delete it"
            ) from None
        return owner, acquired, expires

    def clear_own(self) -> bool:
        """Remove a lease this owner left behind (a run of ours that died); True if there was
        one. Taken over first (If-Match), so a lease someone else just took is never deleted.
        One read when there is none: what a no-op apply pays."""
        try:
            body, _ = self.aws.get_bytes(self.bucket, self.key)
        except NotFound:
            return False
        try:
            if self._parse(body)[0] != self.owner:
                return False
        except CorruptObject:  # proves no owner: left for acquire to report
            return False
        try:
            self.acquire()
        except LeaseHeld:  # taken over by someone else meanwhile: theirs now
            return False
        self.release()
        return True

    def release(self) -> None:
        self.aws.call("s3", "delete_object", Bucket=self.bucket, Key=self.key)
        self.etag = None

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.etag is None:
            return
        if exc is None:
            self.release()
            return
        # The run already failed: its error is the one to report. A release that fails too
        # (AWS gone) leaves the lease to expire or to this owner's next run.
        with contextlib.suppress(MmeopsError):
            self.release()
