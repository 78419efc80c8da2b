"""The per-model `started` record: the firing of a model's schedule that a run has taken on.

`schedule/MODEL.json` in the training bucket holds the firing (the cron time), the run that
took it, the attempt, the stage (started, tuning, finished), whether tuning began, and an
expiry. It decides the schedule:

- a run takes a firing with a conditional put before it extracts anything: If-None-Match: *
  for a model's first record, If-Match on the ETag read afterwards, so of two runs racing for
  the same firing exactly one wins (S3 answers the other 412 PreconditionFailed);
- a firing is taken at most once: a newer firing, or the same one when its last attempt failed
  before tuning (the next hourly run retries it); a failed tune or gate waits for the next
  firing (tuning costs money; extracting is cheap);
- never twice at once: a record still `started` or `tuning` and not expired blocks every
  firing. It expires after the retrain job's own limit (6 hours) plus a margin, so a run
  whose runner died frees its model without anyone's help.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from croniter import croniter

from mmeops.aws import Aws
from mmeops.config.repo import Repo
from mmeops.errors import CorruptObject, MmeopsError, NotFound, PreconditionFailed

STARTED, TUNING, FINISHED = "started", "tuning", "finished"
STAGES = (STARTED, TUNING, FINISHED)
# retrain.yml's timeout-minutes (360) and a margin: a record older than this is a dead run's.
LEASE = dt.timedelta(hours=7)


def record_key(model: str) -> str:
    return f"schedule/{model}.json"


@dataclass(frozen=True)
class Started:
    model: str
    firing: dt.datetime
    run_id: str
    attempt: int
    stage: str
    tuned: bool
    started_at: dt.datetime
    expires: dt.datetime

    def running(self, now: dt.datetime) -> bool:
        return self.stage != FINISHED and now < self.expires

    def to_json(self) -> bytes:
        fields = asdict(self)
        for name in ("firing", "started_at", "expires"):
            fields[name] = fields[name].isoformat()
        return json.dumps(fields, sort_keys=True).encode()

    @staticmethod
    def from_json(body: bytes, where: str) -> Started:
        try:
            fields = json.loads(body)
            for name in ("firing", "started_at", "expires"):
                fields[name] = dt.datetime.fromisoformat(fields[name])
            record = Started(**fields)
        except (ValueError, TypeError, KeyError) as e:
            raise CorruptObject(f"{where} is not a started record ({e}); delete it") from None
        if record.stage not in STAGES:
            raise CorruptObject(f"{where}: unknown stage {record.stage!r}; delete it")
        return record


@dataclass(frozen=True)
class Decision:
    due: bool
    reason: str


def latest_firing(cron: str, until: dt.datetime) -> dt.datetime:
    """The last time `cron` fired at or before `until`."""
    return croniter(cron, until + dt.timedelta(seconds=1)).get_prev(dt.datetime)


def decide(
    record: Started | None,
    firing: dt.datetime,
    now: dt.datetime,
    since: dt.datetime | None = None,
) -> Decision:
    """Whether a run may take `firing` given the model's record. A model without one (never
    retrained on schedule) is due when the firing falls after `since` (the window of the
    scheduled run; None: any firing)."""
    if record is None:
        if since is not None and firing <= since:
            return Decision(False, f"no firing since {since:%Y-%m-%dT%H:%MZ}")
        return Decision(True, f"fired at {firing:%Y-%m-%dT%H:%MZ}")
    if record.running(now):
        return Decision(
            False,
            f"still {record.stage} for {record.firing:%Y-%m-%dT%H:%MZ} in run {record.run_id} "
            f"(until {record.expires:%Y-%m-%dT%H:%MZ} at the latest)",
        )
    if record.firing < firing:
        return Decision(True, f"fired at {firing:%Y-%m-%dT%H:%MZ}")
    if record.firing == firing and not record.tuned:
        return Decision(
            True,
            f"retry: attempt {record.attempt} for {firing:%Y-%m-%dT%H:%MZ} "
            f"(run {record.run_id}) failed before tuning",
        )
    return Decision(
        False,
        f"{record.firing:%Y-%m-%dT%H:%MZ} was taken by run {record.run_id}; "
        "the next firing retrains it",
    )


def read(aws: Aws, bucket: str, model: str) -> tuple[Started | None, str | None]:
    """The model's record and its ETag; (None, None) when it has none."""
    key = record_key(model)
    try:
        body, etag = aws.get_bytes(bucket, key)
    except NotFound:
        return None, None
    return Started.from_json(body, f"s3://{bucket}/{key}"), etag


class NotClaimed(MmeopsError):
    """The firing is not this run's to take: a verdict, reported, never a failure."""


def claim(
    aws: Aws, bucket: str, model: str, firing: dt.datetime, run_id: str, now: dt.datetime
) -> Started:
    """Take `firing` for `run_id` with a conditional put; NotClaimed when it is not due (the
    reason says why) or another run took it between our read and our write."""
    record, etag = read(aws, bucket, model)
    decision = decide(record, firing, now)
    if not decision.due:
        raise NotClaimed(decision.reason)
    again = record is not None and record.firing == firing
    new = Started(
        model=model,
        firing=firing,
        run_id=run_id,
        attempt=record.attempt + 1 if again else 1,
        stage=STARTED,
        tuned=False,
        started_at=now,
        expires=now + LEASE,
    )
    try:
        _write(aws, bucket, new, etag)
    except PreconditionFailed:
        raise NotClaimed("another run took this firing first") from None
    return new


def _write(aws: Aws, bucket: str, record: Started, etag: str | None) -> None:
    """Conditional put: create only (no ETag read) or replace only the version read."""
    aws.put_bytes(
        bucket,
        record_key(record.model),
        record.to_json(),
        if_match=etag,
        if_none_match=etag is None,
        content_type="application/json",
    )


def advance(aws: Aws, bucket: str, model: str, run_id: str, stage: str) -> Started:
    """Move this run's record to `stage` (tuning before the tune starts: from then on only
    the next firing retrains; finished at the end, whatever happened)."""
    record, etag = read(aws, bucket, model)
    if record is None or record.run_id != run_id:
        owner = "no run" if record is None else f"run {record.run_id}"
        raise MmeopsError(
            f"{model}'s started record belongs to {owner}, not run {run_id}: "
            "this run did not take the firing (mmeops started MODEL --until ...)"
        )
    new = replace(record, stage=stage, tuned=record.tuned or stage == TUNING)
    try:
        _write(aws, bucket, new, etag)
    except PreconditionFailed:
        raise MmeopsError(f"{model}'s started record changed under run {run_id}") from None
    return new


def due_by_record(
    repo: Repo,
    record_of: Callable[[str], Started | None],
    since: dt.datetime | None,
    until: dt.datetime,
    now: dt.datetime,
) -> list[tuple[dt.datetime, str, Decision]]:
    """(latest firing, model, decision) for every model with a schedule, oldest firing first:
    a run that can take only some takes the ones waiting longest."""
    rows = []
    for name, model in repo.models.items():
        if model.schedule is None:
            continue
        firing = latest_firing(model.schedule, until)
        rows.append((firing, name, decide(record_of(name), firing, now, since)))
    return sorted(rows, key=lambda row: (row[0], row[1]))
