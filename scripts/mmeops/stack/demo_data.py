"""The demo warehouse: scikit-learn's bundled diabetes and breast-cancer data as tables.

Each row gets an event date drawn once, with a fixed seed, between 2025-01-01 and 2026-06-30.
The stack loads the rows dated before 2026-01-01; `arrive_new_rows` inserts the rest, which is
the demo's "new rows arrive in the warehouse" step (the next extract window sees them).
Columns follow models/*/query.sql.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache

import numpy as np
import pandas as pd
import psycopg2

FIRST_DAY = dt.date(2025, 1, 1)
LAST_DAY = dt.date(2026, 6, 30)
CUTOFF = dt.date(2026, 1, 1)  # rows on or after this day "arrive" later
SEED = 20250101

DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _event_dates(n: int, seed: int) -> list[dt.date]:
    span = (LAST_DAY - FIRST_DAY).days + 1
    offsets = np.random.default_rng(seed).integers(0, span, size=n)
    return [FIRST_DAY + dt.timedelta(days=int(d)) for d in offsets]


def breast_cancer_column(feature: str) -> str:
    """scikit-learn's 'mean concave points' → 'mean_concave_points' (as in query.sql)."""
    return feature.replace(" ", "_")


@cache
def tables() -> dict[str, pd.DataFrame]:
    """Every demo row, keyed by table name (`demo.diabetes`, `demo.breast_cancer`)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    d = load_diabetes(scaled=False)
    diabetes = pd.DataFrame(d.data, columns=DIABETES_FEATURES)
    diabetes.insert(0, "event_date", _event_dates(len(diabetes), SEED))
    diabetes.insert(0, "patient_id", np.arange(1, len(diabetes) + 1))
    diabetes["progression"] = d.target.astype(float)

    b = load_breast_cancer()
    columns = [breast_cancer_column(f) for f in b.feature_names]
    cancer = pd.DataFrame(b.data, columns=columns)
    cancer.insert(0, "event_date", _event_dates(len(cancer), SEED + 1))
    cancer.insert(0, "sample_id", np.arange(1, len(cancer) + 1))
    # scikit-learn codes malignant as 0; the model predicts the probability of malignancy.
    cancer["malignant"] = 1 - b.target
    return {"demo.diabetes": diabetes, "demo.breast_cancer": cancer}


def _ddl() -> str:
    t = tables()
    diabetes = ", ".join(f"{c} double precision" for c in [*DIABETES_FEATURES, "progression"])
    features = [c for c in t["demo.breast_cancer"].columns[2:] if c != "malignant"]
    cancer = ", ".join(f"{c} double precision" for c in features)
    return f"""
        CREATE SCHEMA IF NOT EXISTS demo;
        CREATE TABLE IF NOT EXISTS demo.diabetes (
            patient_id int PRIMARY KEY, event_date date NOT NULL, {diabetes});
        CREATE TABLE IF NOT EXISTS demo.breast_cancer (
            sample_id int PRIMARY KEY, event_date date NOT NULL, {cancer}, malignant int NOT NULL);
    """


def _copy(cur, table: str, frame: pd.DataFrame) -> int:
    """COPY rows into `table`, skipping keys already there (so arrival can be repeated)."""
    if frame.empty:
        return 0
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False)
    buf.seek(0)
    key = frame.columns[0]
    cur.execute(f"CREATE TEMP TABLE incoming (LIKE {table}) ON COMMIT DROP")
    cur.copy_expert(f"COPY incoming ({', '.join(frame.columns)}) FROM STDIN WITH CSV", buf)
    cur.execute(f"INSERT INTO {table} SELECT * FROM incoming ON CONFLICT ({key}) DO NOTHING")
    inserted = cur.rowcount
    cur.execute("DROP TABLE incoming")
    return inserted


def _load(dsn: str, select) -> dict[str, int]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_ddl())
            return {name: _copy(cur, name, select(frame)) for name, frame in tables().items()}
    finally:
        conn.close()


def load_initial(dsn: str) -> dict[str, int]:
    """Create schema `demo` and load the rows dated before 2026-01-01; rows inserted per table."""
    return _load(dsn, lambda f: f[f["event_date"] < CUTOFF])


def arrive_new_rows(dsn: str) -> dict[str, int]:
    """Insert the rows dated 2026-01-01 or later; rows inserted per table (0 when repeated)."""
    return _load(dsn, lambda f: f[f["event_date"] >= CUTOFF])
