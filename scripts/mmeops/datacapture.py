"""Where the front door's capture lives and how it is read back (shared: the invoker writes
it, `mmeops canary` and monitoring read it; docs/calling-a-model.md).

    capture/<env>/<model>/v<version>/<variant>/YYYY/MM/DD/HH/<uuid>.jsonl

One SageMaker Data Capture record per line (captureData, eventMetadata, eventVersion), plus
the `mmeops` object (variant, version, status, error, model_latency_ms, rows).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from mmeops import jsonl
from mmeops.aws import Aws

CAPTURE_ROOT = "capture"


def prefix(env: str, model: str, version: int, variant: str, when: dt.datetime | None = None):
    """The folder of one hour's capture (or, without `when`, of all of it)."""
    base = f"{CAPTURE_ROOT}/{env}/{model}/v{version}/{variant}/"
    return base + when.strftime("%Y/%m/%d/%H/") if when is not None else base


def read(aws: Aws, bucket: str, env: str, model: str, version: int, variant: str) -> list[dict]:
    """Every record captured for one version in one role, oldest objects first; lines that do
    not parse are skipped (jsonl.parse)."""
    objects = aws.list_objects(bucket, prefix(env, model, version, variant))
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = pool.map(lambda o: aws.get_bytes(bucket, o.key)[0], objects)
        return [r for body in bodies for r in jsonl.parse(body)]
