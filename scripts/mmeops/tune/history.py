"""Tuning history: one JSON record per tuning job in `tuning/<model>/history.jsonl`.

The runner is ephemeral, so the history lives in the training bucket. Appends are
read-modify-write with a conditional put on the ETag that was read (or create-only for the
first record) and are retried when another writer got there first, so two concurrent tuning
runs never lose each other's record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mmeops import jsonl
from mmeops.aws import Aws
from mmeops.errors import NotFound

COMPLETED = "Completed"
FAILED = "Failed"
STOPPED = "Stopped"
IN_PROGRESS = "InProgress"  # a SageMaker job created and not yet waited for to its end
# A stopped SageMaker tuning job whose best training job completed is a result like any
# other (AWS accepts it as a warm-start parent, too).
USABLE = frozenset({COMPLETED, STOPPED})


def history_key(model: str) -> str:
    return f"tuning/{model}/history.jsonl"


@dataclass(frozen=True)
class TuningRecord:
    """One tuning job, as docs/architecture.md describes it (`trials` feed later warm starts)."""

    time: str
    job_name: str
    model: str
    prefix: str
    objective: str
    eval_metric: str
    best_value: float | None
    n_training_jobs: int
    dataset_run_id: str
    dataset_sha256: str
    backend: str
    testing: bool
    status: str
    ranges: dict[str, dict[str, Any]]
    static_hyperparameters: dict[str, Any]
    parents: list[str] = field(default_factory=list)
    warm_start_type: str | None = None
    best_hyperparameters: dict[str, Any] = field(default_factory=dict)
    artifact_uri: str | None = None
    xgboost_version: str | None = None
    image_version: str | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)
    failure_reason: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningRecord:
        # Unknown keys (written by a newer mmeops) are ignored rather than fatal.
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def parse(text: str | bytes) -> list[TuningRecord]:
    """Records in file order (oldest first), one per job: a job's later record (its end)
    replaces its earlier one (InProgress) in place. A line that does not parse (not UTF-8, not
    JSON, not a record) is skipped: one bad line must not stop every future tuning run."""
    body = text.encode("utf-8") if isinstance(text, str) else text
    records: dict[str, TuningRecord] = {}
    for row in jsonl.parse(body):
        try:
            record = TuningRecord.from_dict(row)
        except (ValueError, TypeError):
            continue
        records[record.job_name] = record
    return list(records.values())


def read(aws: Aws, bucket: str, model: str) -> list[TuningRecord]:
    """Every record of `model`, oldest first; empty when the model was never tuned."""
    try:
        body, _ = aws.get_bytes(bucket, history_key(model))
    except NotFound:
        return []
    return parse(body)


def latest(
    aws: Aws, bucket: str, model: str, *, testing: bool | None = None
) -> TuningRecord | None:
    """The newest usable record with an artifact (optionally only testing or non-testing
    runs): what register evaluates next."""
    for record in reversed(read(aws, bucket, model)):
        if record.status not in USABLE or not record.artifact_uri:
            continue
        if testing is not None and record.testing != testing:
            continue
        return record
    return None


def append(aws: Aws, bucket: str, record: TuningRecord, *, kms_key_id: str | None = None) -> None:
    """Add `record` to its model's history without losing a concurrent writer's record."""
    jsonl.append(aws, bucket, history_key(record.model), record.to_json(), kms_key_id=kms_key_id)
