"""The rows to monitor: the model's own query over the window after its training data.

The same query file, the same bound parameters and the same COPY path as extract, so a
monitor sees exactly what the next training run would. Values that are not numbers become
missing here and a type violation in `checks`, never an exception.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmeops.config.repo import Repo
from mmeops.extract import warehouse
from mmeops.extract.run import Window, load_query


@dataclass(frozen=True)
class Rows:
    window: Window
    columns: list[warehouse.Column]
    frame: pd.DataFrame  # every selected column; non-numeric values as NaN

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def values(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy(dtype=np.float64)


def monitoring_window(
    trained_until: dt.date,
    since: dt.date | None,
    today: dt.date | None = None,
    window_days: int | None = None,
) -> Window:
    """The last `window_days` days through today, inclusive, never before the end of the
    training window (a monitor runs on the day's rows too, where training waits `lag_days`
    for them). `since` gives the cumulative view from that day instead; `window_days` None
    is the cumulative view from the end of training."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    end = today + dt.timedelta(days=1)
    start = trained_until
    if window_days is not None:
        start = max(trained_until, end - dt.timedelta(days=window_days))
    start = since or start
    return Window(start, max(end, start + dt.timedelta(days=1)))


def read_rows(repo: Repo, dsn: str, model: str, window: Window) -> Rows:
    query = load_query(repo, model, window)
    return read_query(dsn, query, window, repo.settings.warehouse.statement_timeout_s)


def read_query(dsn: str, query: warehouse.Query, window: Window, timeout_s: int) -> Rows:
    """Run a bound query with COPY and parse its CSV: one round trip, no row objects."""
    with warehouse.connect(dsn, timeout_s) as conn:
        columns = warehouse.describe(conn, query)
        sink = io.BytesIO()
        warehouse.copy_csv(conn, query, sink)
    sink.seek(0)
    names = [c.name for c in columns]
    # Numbers parse straight to float64 (the C parser, no object columns); anything else is
    # read as text and becomes missing here, a type violation in `checks`.
    frame = pd.read_csv(
        sink,
        header=0,
        names=names,
        dtype={c.name: np.float64 if c.numeric else str for c in columns},
        keep_default_na=False,
        na_values=[""],
    )
    for c in columns:
        if not c.numeric:
            frame[c.name] = pd.to_numeric(frame[c.name], errors="coerce").astype(np.float64)
    return Rows(window, columns, frame)
