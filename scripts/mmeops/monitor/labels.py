"""Ground truth for captured requests: `models/<model>/labels.sql` returns `inference_id` and
`label`, and model quality joins them on capture's `eventMetadata.inferenceId` (the id the
front door answered with, or the client's `X-Inference-Id`).

The file is the model's, like query.sql: the same window parameters (optional here: labels
often arrive long after the request, so a team may look further back), the same single-SELECT
rules and the same COPY path. A file that returns other columns is bad input (exit 2, the
file and the fix); ids it returns twice or that match no captured request, and captured rows
left without a label, are counted and reported, never guessed at.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmeops.config.repo import Repo
from mmeops.errors import UserError
from mmeops.extract import warehouse
from mmeops.extract.run import Window

LABELS_FILE = "labels.sql"
COLUMNS = ("inference_id", "label")
FIX = (
    "labels.sql must return two columns, inference_id (the request's id) and label (a "
    "number): e.g. SELECT request_id AS inference_id, outcome AS label FROM ..."
)


@dataclass(frozen=True)
class Joined:
    """Labels lined up with the captured rows (NaN where a row has none), and the counts."""

    labels: np.ndarray
    returned: int  # rows labels.sql returned
    matched: int  # captured rows that got a label
    unmatched_ids: int  # labelled ids no captured single-row request carries
    duplicate_ids: int  # ids labels.sql returned more than once (none of them used)
    multi_row: int  # labelled requests of several rows: one label cannot say which row

    def summary(self) -> str:
        parts = [
            f"labels.sql returned {self.returned} labels; {self.matched} captured rows matched"
        ]
        if self.unmatched_ids:
            parts.append(f"{self.unmatched_ids} ids matched no captured request")
        if self.duplicate_ids:
            parts.append(f"{self.duplicate_ids} ids returned more than once (not used)")
        if self.multi_row:
            parts.append(f"{self.multi_row} requests of several rows (not joined)")
        unlabeled = int(np.isnan(self.labels).sum())
        parts.append(f"{unlabeled} captured rows without a label")
        return "; ".join(parts)


def labels_path(repo: Repo, model: str):
    return repo.model_dir(model) / LABELS_FILE


def has_labels(repo: Repo, model: str) -> bool:
    return labels_path(repo, model).is_file()


def load(repo: Repo, model: str, window: Window) -> warehouse.Query:
    path = labels_path(repo, model)
    shown = path.relative_to(repo.root)
    text = warehouse.read_query(path, shown)
    params = {"start_date": window.start, "end_date": window.end}
    return warehouse.Query(shown, text, params, repo.settings.warehouse.statement_timeout_s)


def _select_line(text: str) -> int:
    """The line of the first SELECT (where the column list starts), else 1."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "select" in line.lower().split("--")[0]:
            return number
    return 1


def check_columns(query: warehouse.Query, columns: list[warehouse.Column]) -> None:
    names = [c.name for c in columns]
    line = _select_line(query.text)
    if sorted(names) != sorted(COLUMNS):
        raise UserError(f"returns ({', '.join(names)}); {FIX}", query.path, line)
    label = next(c for c in columns if c.name == "label")
    if not label.numeric:
        raise UserError(f"label is {label.type_name}, not a number; {FIX}", query.path, line)


def read(repo: Repo, dsn: str, model: str, window: Window) -> dict[str, list[float]]:
    """inference id -> every label labels.sql returned for it (several: a duplicate)."""
    query = load(repo, model, window)
    with warehouse.connect(dsn, repo.settings.warehouse.statement_timeout_s) as conn:
        check_columns(query, warehouse.describe(conn, query))
        sink = io.BytesIO()
        warehouse.copy_csv(conn, query, sink)
    sink.seek(0)
    frame = pd.read_csv(
        sink,
        dtype={"inference_id": str, "label": np.float64},
        keep_default_na=False,
        na_values={"label": [""]},
    )
    found: dict[str, list[float]] = {}
    for inference_id, label in zip(frame["inference_id"], frame["label"], strict=True):
        found.setdefault(str(inference_id), []).append(float(label))
    return found


def join(inference_ids: tuple[str, ...], labels: dict[str, list[float]]) -> Joined:
    """One label per captured row: a request's id with exactly one row and one label."""
    rows_of: dict[str, list[int]] = {}
    for i, inference_id in enumerate(inference_ids):
        rows_of.setdefault(inference_id, []).append(i)
    joined = np.full(len(inference_ids), np.nan)
    unmatched = duplicate = multi = 0
    for inference_id, values in labels.items():
        rows = rows_of.get(inference_id)
        if rows is None:
            unmatched += 1
        elif len(values) > 1:
            duplicate += 1
        elif len(rows) > 1:
            multi += 1
        else:
            joined[rows[0]] = values[0]
    returned = sum(len(v) for v in labels.values())
    matched = int((~np.isnan(joined)).sum())
    return Joined(joined, returned, matched, unmatched, duplicate, multi)
