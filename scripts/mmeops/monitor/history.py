"""Where a monitoring run leaves its traces, in the training bucket:

    monitoring/<model>/history.jsonl                        one row per model per run
    monitoring/<model>/<env>/<run_id>/statistics.json       the window's statistics
    monitoring/<model>/<env>/<run_id>/constraint_violations.json

The history is what the report's trend chart reads; it is appended with the conditional
writes of `mmeops.jsonl`, so two monitors of one model never lose each other's rows.
"""

from __future__ import annotations

import json

from mmeops import jsonl
from mmeops.aws import Aws


def history_key(model: str) -> str:
    return f"monitoring/{model}/history.jsonl"


def run_prefix(model: str, env: str, run_id: str) -> str:
    return f"monitoring/{model}/{env}/{run_id}"


def write_run(
    aws: Aws,
    bucket: str,
    prefix: str,
    statistics: dict,
    violations: list[dict],
    kms: str | None = None,
) -> str:
    """Write the window's statistics and its violations; returns the violations' URI."""
    for name, document in (
        ("statistics.json", statistics),
        ("constraint_violations.json", {"violations": violations}),
    ):
        aws.put_bytes(
            bucket,
            f"{prefix}/{name}",
            json.dumps(document, indent=1).encode(),
            kms_key_id=kms,
            content_type="application/json",
        )
    return f"s3://{bucket}/{prefix}/constraint_violations.json"


def append(aws: Aws, bucket: str, model: str, row: dict, kms: str | None = None) -> None:
    jsonl.append(aws, bucket, history_key(model), json.dumps(row, sort_keys=True), kms_key_id=kms)


def read(aws: Aws, bucket: str, model: str, env: str) -> list[dict]:
    """Past runs of `model` in `env`, oldest first."""
    return [r for r in jsonl.read(aws, bucket, history_key(model)) if r.get("env") == env]
