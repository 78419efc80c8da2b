"""The demo's last act (issue 18): after the rollback, prod's rows drift and its labels
turn, and `monitor` sees both: data drift on the shifted features only, then a model-quality
violation, and the retrain (a retune) that the violation triggers.

Rows arrive dated today, after every training window (the models wait `lag_days` for rows),
so only the monitoring window sees them. `run` checks each claim and raises DemoFailed (via
`check`) when one does not hold.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2

from mmeops.config.repo import load_repo
from mmeops.monitor import report
from mmeops.monitor.run import MonitorRun, monitor
from mmeops.retrain import retrain
from mmeops.stack import demo_data
from mmeops.tune.recalibrate import kind_line

DRIFTING = "diabetes-progression"
SHIFTED = ("bmi", "bp")  # moved by SHIFT_SD standard deviations; the other features stay
SHIFT_SD = 1.5
ROWS = 120
SEED = 18


def _sample(table: str, rng: np.random.Generator) -> pd.DataFrame:
    frame = demo_data.tables()[table]
    rows = frame.iloc[rng.integers(0, len(frame), ROWS)].copy()
    rows.iloc[:, 0] = np.arange(1, ROWS + 1) + 10_000_000  # fresh primary keys
    rows["event_date"] = dt.datetime.now(dt.timezone.utc).date()
    return rows


def shifted_rows(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Today's rows: diabetes with SHIFTED features moved and no labels yet; breast cancer as
    it always was, labels included."""
    diabetes = _sample("demo.diabetes", rng)
    for column in SHIFTED:
        diabetes[column] += SHIFT_SD * demo_data.tables()["demo.diabetes"][column].std()
    diabetes["progression"] = np.nan
    return {"demo.diabetes": diabetes, "demo.breast_cancer": _sample("demo.breast_cancer", rng)}


def _insert(dsn: str, rows: dict[str, pd.DataFrame]) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for table, frame in rows.items():
                buf = io.StringIO()
                frame.to_csv(buf, index=False, header=False)
                buf.seek(0)
                cur.copy_expert(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN CSV", buf)
    finally:
        conn.close()


def labels_arrive(dsn: str, rows: pd.DataFrame) -> None:
    """The labels of today's diabetes rows arrive, and they are not what v1 learned: the
    progression the features used to mean, reversed."""
    truth = demo_data.tables()["demo.diabetes"]["progression"]
    flipped = truth.max() + truth.min() - truth.loc[rows.index].to_numpy()
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.executemany(
                "UPDATE demo.diabetes SET progression = %s WHERE patient_id = %s",
                [(float(p), int(k)) for p, k in zip(flipped, rows["patient_id"], strict=True)],
            )
    finally:
        conn.close()


def _show(run: MonitorRun, say: Callable[[str], None]) -> None:
    for line in report.table(run).splitlines()[1:]:
        say(f"  {line}")


def run(
    root: Path,
    dsn: str,
    say: Callable[[str], None],
    check: Callable[[bool, str], None],
    max_jobs: int | None = None,
    backend: str = "sagemaker",
) -> None:
    """Shift, monitor, label, monitor, retrain: every claim checked."""
    rows = shifted_rows(np.random.default_rng(SEED))
    _insert(dsn, rows)
    say(f"  {ROWS} rows per model arrive today; diabetes' {' and '.join(SHIFTED)} moved by "
        f"{SHIFT_SD} sd, no labels yet")  # fmt: skip
    first = monitor(load_repo(root), "prod")
    _show(first, say)
    by_model = {m.model: m for m in first.models}
    # The shifted features drift, and (as they lead the model) its predictions with them.
    features = [f for f in by_model[DRIFTING].drifted if f != "prediction"]
    check(features == list(SHIFTED), f"drift on {by_model[DRIFTING].drifted}")
    check(not by_model[DRIFTING].quality_violated, "model quality judged without labels")
    check(all(m.status == "ok" for m in first.models if m.model != DRIFTING), "false alarm")

    labels_arrive(dsn, rows["demo.diabetes"])
    say("  their labels arrive, and v1 predicts them badly")
    second = monitor(load_repo(root), "prod")
    _show(second, say)
    triggered = [m for m in second.models if m.quality_violated]
    check([m.model for m in triggered] == [DRIFTING], "no model-quality violation")

    for m in triggered:
        say(f"  model-quality violation → retrain {m.model} with tuning ({m.violations_uri})")
        r = retrain(load_repo(root), m.model, backend=backend, max_jobs=max_jobs)
        reg = r.registration
        kind = kind_line(r.tune.record).replace("**", "")
        say(f"  {m.model}: {kind} {reg.verdict.summary()}")
        check(r.tune.record.n_training_jobs > 1, "the retrain did not search")
