"""The model `mmeops monitor`'s tests judge (tests/monitor/conftest.py's `served`): one
regression model trained on its own table, registered with its baseline by `register`,
served in sandbox; what its scenarios insert and how they monitor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import psycopg2

from mmeops.config.repo import load_repo
from mmeops.monitor.run import monitor

REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("x1", "x2", "x3", "x4")
TODAY = dt.datetime.now(dt.timezone.utc).date()


def rows(n: int, seed: int, day: dt.date | None = None, span_days: int = 0) -> dict:
    """x1 ~ N(10, 2), x2 ~ N(50, 5), x3 ~ N(0, 1), x4 whole numbers 80..120; y linear + noise."""
    rng = np.random.default_rng(seed)
    data = {
        "x1": rng.normal(10, 2, n),
        "x2": rng.normal(50, 5, n),
        "x3": rng.normal(0, 1, n),
        "x4": rng.integers(80, 121, n).astype(float),
    }
    data["y"] = 3 * data["x1"] + 0.5 * data["x2"] - 2 * data["x3"] + rng.normal(0, 1, n)
    start = day or TODAY
    data["event_date"] = [
        start + dt.timedelta(days=int(d)) for d in rng.integers(0, span_days + 1, n)
    ]
    return data


def _sql(value):
    """A psycopg2 parameter: numpy numbers as Python floats, NaN as NULL."""
    if isinstance(value, dt.date):
        return value
    return None if np.isnan(value) else float(value)


def insert(dsn: str, table: str, data: dict) -> None:
    columns = ["event_date", *FEATURES, "y"]
    records = list(zip(*(data[c] for c in columns), strict=True))
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * 6)})",
            [tuple(_sql(v) for v in r) for r in records],
        )
    conn.close()


class Served:
    def __init__(self, root: Path, name: str, table: str, dsn: str):
        self.root, self.name, self.table, self.dsn = root, name, table, dsn
        self.day = 0

    def window(self, data: dict) -> dt.date:
        """Insert `data` on a day of its own and return that day."""
        self.day += 1
        day = TODAY + dt.timedelta(days=10 + self.day)
        data = {**data, "event_date": [day] * len(data["x1"])}
        insert(self.dsn, self.table, data)
        return day

    def monitor(self, day: dt.date, env: str = "sandbox"):
        run = monitor(load_repo(self.root), env, [self.name], since=day, today=day)
        assert len(run.models) == 1
        return run.models[0]


def create_table(dsn: str, table: str) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id serial PRIMARY KEY, event_date date NOT NULL, "
            + ", ".join(f"{c} double precision" for c in (*FEATURES, "y"))
            + ")"
        )
    conn.close()


def model_files(template: str, name: str, table: str) -> dict[str, str]:
    """model.yaml (diabetes-progression's, `template`, with a small tuning budget) and
    query.sql of a regression model on `table`."""
    yaml = template
    for old, new in (
        ("name: diabetes-progression", f"name: {name}"),
        ("target: progression", "target: y"),
        ("  max_jobs: 12", "  max_jobs: 2"),
        ("num_round: 300", "num_round: 60"),
        ("  bound: 80", "  bound: 5"),
    ):
        yaml = yaml.replace(old, new)
    query = (
        f"SELECT event_date, {', '.join(FEATURES)}, y\nFROM {table}\n"
        "WHERE event_date >= %(start_date)s AND event_date < %(end_date)s\nORDER BY id\n"
    )
    return {"model.yaml": yaml, "query.sql": query}
