"""Append-only JSON-lines files in S3, safe under concurrent writers.

Read-modify-write with a conditional put on the ETag that was read (create-only for the
first line), retried when another writer got there first: no writer loses another's line.
"""

from __future__ import annotations

import json
from typing import Any

from mmeops.aws import Aws
from mmeops.errors import AwsError, CorruptObject, NotFound, PreconditionFailed

ATTEMPTS = 20


def read(aws: Aws, bucket: str, key: str) -> list[dict[str, Any]]:
    """Every record, oldest first; a line that does not parse is skipped, not fatal."""
    try:
        body, _ = aws.get_bytes(bucket, key)
    except NotFound:
        return []
    return parse(body)


def parse(body: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines body. Each line is decoded on its own: a line that is
    not UTF-8, not JSON or not an object is skipped, and never stops the lines after it."""
    rows = []
    for line in body.splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError is a ValueError too
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_object(aws: Aws, bucket: str, key: str, what: str, fix: str) -> tuple[dict, str]:
    """One JSON object stored at s3://bucket/key and its ETag; CorruptObject (naming the key,
    `what` it should be and the `fix`) when it is not one. NotFound passes through."""
    body, etag = aws.get_bytes(bucket, key)
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError as e:
        reason = f"not UTF-8 JSON ({type(e).__name__})"
    else:
        if isinstance(data, dict):
            return data, etag
        reason = f"a JSON {type(data).__name__}, not an object"
    raise CorruptObject(f"s3://{bucket}/{key} is not {what}: {reason}; {fix}", etag)


def append(aws: Aws, bucket: str, key: str, line: str, *, kms_key_id: str | None = None) -> None:
    """Append one line (a serialized record, no newline) to s3://bucket/key."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    for _ in range(ATTEMPTS):
        try:
            body, etag = aws.get_bytes(bucket, key)
        except NotFound:
            body, etag = b"", None
        if body and not body.endswith(b"\n"):
            body += b"\n"
        try:
            aws.put_bytes(
                bucket,
                key,
                body + data,
                if_match=etag,
                if_none_match=etag is None,
                kms_key_id=kms_key_id,
                content_type="application/x-ndjson",
            )
            return
        except PreconditionFailed:
            continue  # someone appended between our read and our write: read again
        except AwsError as e:
            # S3 answers 409 when two conditional writes to one key are in flight at once.
            if e.code != "ConditionalRequestConflict":
                raise
    raise AwsError(
        "put_object",
        "PreconditionFailed",
        f"gave up appending to s3://{bucket}/{key} after {ATTEMPTS} races",
    )
