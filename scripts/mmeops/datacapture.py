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


def read(
    aws: Aws,
    bucket: str,
    env: str,
    model: str,
    version: int,
    variant: str,
    days: tuple[dt.date, dt.date] | None = None,
) -> list[dict]:
    """Every record captured for one version in one role (with `days`, (start, end): only
    objects of those UTC days, end excluded), oldest objects first; lines that do not parse
    are skipped (jsonl.parse)."""
    objects = aws.list_objects(bucket, prefix(env, model, version, variant))
    if days is not None:
        objects = [o for o in objects if days[0] <= _day(o.key) < days[1]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = pool.map(lambda o: aws.get_bytes(bucket, o.key)[0], objects)
        return [r for body in bodies for r in jsonl.parse(body)]


def _day(key: str) -> dt.date:
    """The UTC day in a capture key's YYYY/MM/DD/HH/ folders (date.min for a key that has
    none: an object put there by hand is never in a window)."""
    try:
        y, m, d = key.split("/")[-5:-2]
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        return dt.date.min
