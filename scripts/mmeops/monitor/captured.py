"""Capture as a monitoring source: what clients really sent the served version through the
front door, and what it answered (mmeops/datacapture.py's records), as a feature matrix in
the manifest's column order, the predictions and the inference ids (labels join on them).

Only answered calls count (a refused or failed call's input is not what the model scored).
A record whose input does not parse as rows of `feature_count` numbers (an empty field is a
missing value, as the container reads it) or whose output is not one prediction per row is
skipped and counted: capture objects are data from S3, never trusted to parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from mmeops import datacapture
from mmeops.aws import Aws
from mmeops.deploy.manifest import ManifestEntry
from mmeops.extract.run import Window


@dataclass(frozen=True)
class Captured:
    features: tuple[str, ...]
    matrix: np.ndarray  # rows x features, NaN for a missing value
    predictions: np.ndarray  # one per row (a row's first output)
    inference_ids: tuple[str, ...]  # one per row: the request's id
    skipped: int = 0  # records that did not parse

    @property
    def rows(self) -> int:
        return len(self.predictions)


def _rows(text: str, width: int) -> list[list[float]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != width:
            raise ValueError(f"{len(fields)} fields, {width} expected")
        rows.append([_number(f) for f in fields])
    return rows


def _number(text: str) -> float:
    if not text.strip():
        return np.nan
    value = float(text)
    if not np.isfinite(value):  # the front door refuses nan/inf text: not what it captured
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _outputs(text: str) -> list[float]:
    return [float(p[0] if isinstance(p, list) else p) for p in json.loads(text)]


def parse(records: list[dict], entry: ManifestEntry) -> Captured:
    width = entry.feature_count or len(entry.feature_names)
    matrix, predictions, ids, skipped = [], [], [], 0
    for r in records:
        if r.get("mmeops", {}).get("status") != 200:
            continue
        try:
            data = r["captureData"]
            rows = _rows(data["endpointInput"]["data"], width)
            outputs = _outputs(data["endpointOutput"]["data"])
            inference_id = str(r["eventMetadata"]["inferenceId"])
            if len(outputs) != len(rows):
                raise ValueError("one prediction per row expected")
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped += 1
            continue
        matrix += rows
        predictions += outputs
        ids += [inference_id] * len(rows)
    return Captured(
        tuple(entry.feature_names),
        np.asarray(matrix, dtype=float).reshape(len(matrix), width),
        np.asarray(predictions, dtype=float),
        tuple(ids),
        skipped,
    )


def read_captured(
    aws: Aws, bucket: str, env: str, model: str, entry: ManifestEntry, window: Window
) -> Captured:
    """The champion's answered calls captured in `window` (UTC days)."""
    records = datacapture.read(
        aws, bucket, env, model, entry.version, "champion", (window.start, window.end)
    )
    return parse(records, entry)
