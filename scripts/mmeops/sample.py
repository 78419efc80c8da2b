"""The sample a registered model is smoke-tested with, and what it must answer.

Registration stores, next to `sample.csv` (a few feature rows, no label), `sample.json`: the
model's feature names in column order and the registered model's own predictions for those
rows. A smoke test passes only when the endpoint answers exactly those numbers: a serving
image whose xgboost differs from the training one (it loads, and predicts other numbers) or a
wrong artifact fails it. Written by train (register/expected.py), read by deploy: the format
lives here, free of the ML libraries so the CLI starts fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mmeops.aws import Aws, split_s3_uri
from mmeops.errors import NotFound


@dataclass(frozen=True)
class Expected:
    feature_names: tuple[str, ...]
    predictions: tuple[float, ...]  # flattened: one per row, or one per class per row
    rows: int
    # The sample's CSV rows themselves (sample.csv's lines), so a smoke test reads one object
    # instead of two; empty in records written before they were stored here.
    sample: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "feature_names": list(self.feature_names),
                "feature_count": len(self.feature_names),
                "rows": self.rows,
                "predictions": list(self.predictions),
                "sample": list(self.sample),
            },
            indent=2,
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Expected:
        data = json.loads(body)
        return cls(
            tuple(data.get("feature_names") or ()),
            tuple(float(p) for p in data["predictions"]),
            int(data["rows"]),
            tuple(str(r) for r in data.get("sample") or ()),
        )


def expected_uri(sample_uri: str) -> str:
    """`.../sample.csv` -> `.../sample.json`."""
    return sample_uri.removesuffix(".csv") + ".json"


def read_expected(aws: Aws, sample_uri: str) -> Expected | None:
    """The stored expectation for a sample, or None for a package registered before it."""
    try:
        body, _ = aws.get_bytes(*split_s3_uri(expected_uri(sample_uri)))
    except NotFound:
        return None
    return Expected.from_json(body)


def parse_csv_answer(text: str) -> tuple[float, ...]:
    """The container's `text/csv` answer: every prediction on ONE line, comma-joined, a
    multi-output row written as a Python list (`[0.1, 0.9],[0.3, 0.7]`)."""
    flat = text.strip().replace("[", "").replace("]", "")
    return tuple(float(v) for v in flat.split(",") if v.strip())
