"""The one body validator: what `mmeops invoke` and the front door (mmeops.invoker) refuse
before the endpoint is called, and the CSV they send when they accept.

The XGBoost container answers a bad body with a six-line 503 after the call, and scores some
bad bodies without a word (a short row, `nan` text as a missing value), so the checks run here:

- over 6 MB (the runtime's limit, botocore's sagemaker-runtime model: Body max 6291456): 413;
- not UTF-8, a header row, a field that is not a number, `nan`/`inf` text, a wrong column
  count, an unknown or missing feature name in JSON records: 400;
- an empty CSV field or a JSON `null` is a missing value the container scores: allowed.

Accepted bodies: `text/csv` rows in the manifest's column order, or `application/json` as
`{"instances": [[...], ...]}` or `{"records": [{"feature": value, ...}, ...]}`; JSON becomes
CSV, the only dense format the container and `mmeops invoke` share.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from mmeops.errors import UserError

MAX_BODY_BYTES = 6 * 1024 * 1024
# A decimal number as the container's CSV reader takes it; anything else in a field is refused.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


class BodyError(UserError):
    """A body refused before the call; `status` is the front door's HTTP answer (400, 413)."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        path: str | Path | None = None,
        line: int | None = None,
    ):
        self.status = status
        super().__init__(message, path, line)


@dataclass(frozen=True)
class Shape:
    """What the model takes, from its manifest entry: names in column order, and how many
    (0 when a manifest written before they were recorded does not say)."""

    feature_names: tuple[str, ...] = ()
    feature_count: int = 0


@dataclass(frozen=True)
class Rows:
    """An accepted body as the endpoint receives it: CSV, one line per row."""

    csv: bytes
    count: int


def validate(
    body: bytes, content_type: str | None, shape: Shape, source: str | None = None
) -> Rows:
    """The body as CSV rows for the endpoint, or a BodyError naming the first problem
    (with `source`, a file, as `file:line:`)."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyError(
            f"the body is {len(body):,} bytes, over the runtime's limit of {MAX_BODY_BYTES:,} "
            "(6 MB); split the rows into several requests",
            413,
            source,
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BodyError(
            f"the body is not UTF-8 (byte 0x{body[e.start]:02x} at offset {e.start}); send "
            "UTF-8 text",
            path=source,
        ) from None
    if not text.strip():
        raise BodyError("the request body is empty; send rows of features, no label", path=source)
    kind = media_type(content_type)
    if kind == "application/json":
        lines = _json_rows(text, shape)
    elif kind == "text/csv":
        lines = _csv_rows(text, shape, source)
    else:
        raise BodyError(
            f"content type {content_type!r} is not accepted; send text/csv or application/json"
        )
    return Rows("\n".join(lines).encode(), len(lines))


def media_type(content_type: str | None) -> str:
    """`text/csv; charset=utf-8` → `text/csv`; no header means CSV, as `mmeops invoke` sends."""
    return (content_type or "text/csv").split(";", 1)[0].strip().lower()


def _csv_rows(text: str, shape: Shape, source: str | None) -> list[str]:
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    for number, line in enumerate(lines, start=1):
        fields = [f.strip() for f in line.split(",")]
        _check_count(len(fields), shape, number, source)
        for column, value in enumerate(fields, start=1):
            if value and not _NUMBER.fullmatch(value):
                raise _bad_field(value, number, column, shape, source)
        lines[number - 1] = ",".join(fields)
    return lines


def _check_count(found: int, shape: Shape, number: int, source: str | None) -> None:
    """The endpoint would score a short row with missing values instead of refusing it."""
    expected = shape.feature_count
    if expected and found != expected:
        raise BodyError(
            f"row {number} has {found} columns, the model takes {expected}; send exactly "
            f"{expected} comma-separated features per row, no label",
            path=source,
            line=number if source else None,
        )


def _bad_field(value: str, number: int, column: int, shape: Shape, source: str | None):
    where = f"row {number}, column {column}"
    line = number if source else None
    shown = value if len(value) <= 40 else value[:37] + "..."
    if _NOT_FINITE.fullmatch(value):
        return BodyError(
            f"{where} is {shown!r}, not a finite number; leave the field empty for a missing value",
            path=source,
            line=line,
        )
    names = set(shape.feature_names)
    if number == 1 and (value in names or not names):
        return BodyError(
            f"row 1 looks like a header ({shown!r} is not a number); send the features only, "
            "in the model's column order (`mmeops routes ENV`)",
            path=source,
            line=line,
        )
    return BodyError(
        f"{where} is {shown!r}, not a number; send numbers, or an empty field for a missing value",
        path=source,
        line=line,
    )


def _refuse_constant(name: str) -> float:
    raise BodyError(
        f"the JSON body holds {name}, not a finite number; send null for a missing value"
    )


def _json_rows(text: str, shape: Shape) -> list[str]:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as e:
        if isinstance(e, BodyError):
            raise
        raise BodyError(f'the body is not JSON ({e}); send {{"instances": [[...]]}}') from None
    if not isinstance(data, dict) or len(data) != 1 or not ({"instances", "records"} & set(data)):
        raise BodyError(
            'a JSON body is one object with "instances" (lists of values in column order) or '
            '"records" (objects of feature: value)'
        )
    rows = data.get("instances", data.get("records"))
    if not isinstance(rows, list) or not rows:
        raise BodyError("the JSON body holds no rows; send at least one")
    if "records" in data:
        rows = [_by_name(record, number, shape) for number, record in enumerate(rows, start=1)]
    lines = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list):
            raise BodyError(f"instance {number} is not a list of values")
        _check_count(len(row), shape, number, None)
        lines.append(",".join(_json_value(v, number, column) for column, v in enumerate(row, 1)))
    return lines


def _by_name(record: object, number: int, shape: Shape) -> list:
    if not isinstance(record, dict):
        raise BodyError(f"record {number} is not an object of feature: value")
    if not shape.feature_names:
        raise BodyError(
            'this model\'s manifest entry records no feature names; send "instances" in '
            "column order"
        )
    unknown = sorted(set(record) - set(shape.feature_names))
    if unknown:
        raise BodyError(
            f"record {number} names {unknown[0]!r}, not a feature of the model; its features "
            f"are {', '.join(shape.feature_names)}"
        )
    missing = [n for n in shape.feature_names if n not in record]
    if missing:
        raise BodyError(
            f"record {number} lacks {missing[0]!r}; give every feature (null for a missing value)"
        )
    return [record[n] for n in shape.feature_names]


def _json_value(value: object, number: int, column: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BodyError(
            f"row {number}, column {column} is {json.dumps(value)[:40]}, not a number; send "
            "numbers, or null for a missing value"
        )
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as inf
        raise BodyError(f"row {number}, column {column} is not a finite number")
    return str(value) if isinstance(value, int) else repr(value)
