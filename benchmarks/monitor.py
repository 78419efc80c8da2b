"""How well and how fast does `mmeops monitor` tell drift from noise?

Generated data: 20 features per model with assorted distributions (normal, lognormal,
uniform, whole numbers), a baseline built from 10,000 training rows exactly as registration
builds it (register/baseline.py), and windows checked exactly as `monitor` checks them
(monitor/checks.py, default settings: linf distance, threshold 0.1, robust).

(a) false alarms: 200 windows drawn from the training distribution; the share of
    feature-windows with any violation.
(b) detection in the first window: for each shift (mean +0.25, +0.5, +1 sd, scale x1.5, 20%
    more missing values) applied to every feature in turn, the share of windows in which the
    shifted feature is flagged.
(c) wall time to monitor 200 models of 10,000 rows and 20 features in a real PostgreSQL:
    for each model its own query (COPY), the window's statistics (what a run stores) and every
    check. The baseline measured in the same run is the COPY of the same rows alone: the ratio
    says what monitoring adds to reading the data. S3 writes (two small objects and one history
    row per model) are not in (c).

Last line: `monitor false_alarm_rate=F detect_rate_0.5sd=D models=200 wall_s=T`.
Targets: F <= 0.01, D >= 0.95, T <= 120 on a 2-core machine.

    PYTHONPATH=scripts .venv/bin/python benchmarks/monitor.py [--models 200] [--window 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import time

import numpy as np
import pandas as pd

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from mmeops.config.kinds import Monitor  # noqa: E402
from mmeops.extract import warehouse  # noqa: E402
from mmeops.extract.run import Window  # noqa: E402
from mmeops.monitor import checks  # noqa: E402
from mmeops.monitor.window import read_query  # noqa: E402
from mmeops.register.baseline import constraints  # noqa: E402
from mmeops.register.statistics import dataset_statistics  # noqa: E402

FEATURES = [f"f{i:02d}" for i in range(20)]
SETTINGS = Monitor()


def draw(rows: int, rng: np.random.Generator) -> np.ndarray:
    """rows × 20: five each of normal, lognormal, uniform and whole-number features; 2%
    missing in every fourth feature."""
    cols = []
    for i in range(20):
        kind = i % 4
        if kind == 0:
            col = rng.normal(10 + i, 1 + i / 10, rows)
        elif kind == 1:
            col = rng.lognormal(1, 0.5, rows)
        elif kind == 2:
            col = rng.uniform(-5, 5, rows)
        else:
            col = rng.poisson(20 + i, rows).astype(float)
        if i % 4 == 3:
            col[rng.random(rows) < 0.02] = np.nan
        cols.append(col)
    return np.column_stack(cols)


def make_baseline(rng: np.random.Generator, rows: int = 10_000) -> tuple[dict, dict, np.ndarray]:
    train = draw(rows, rng)
    labels = rng.normal(size=(rows, 1))
    stats = dataset_statistics(["y", *FEATURES], np.hstack([labels, train]))
    return stats, constraints(stats, "y", SETTINGS), train


def check(stats: dict, cons: dict, window: np.ndarray) -> checks.DataQuality:
    values = {name: window[:, i] for i, name in enumerate(FEATURES)}
    return checks.data_quality(stats, cons, FEATURES, values, SETTINGS)


def flagged(result: checks.DataQuality) -> set[str]:
    return {v["feature_name"] for v in result.violations}


def shift(window: np.ndarray, train: np.ndarray, i: int, kind: str, rng) -> np.ndarray:
    out = window.copy()
    sd = np.nanstd(train[:, i])
    mean = np.nanmean(train[:, i])
    if kind.startswith("mean"):
        out[:, i] += float(kind.split("_")[1]) * sd
    elif kind == "scale_1.5":
        out[:, i] = mean + (out[:, i] - mean) * 1.5
    elif kind == "missing_20pct":
        out[rng.random(len(out)) < 0.2, i] = np.nan
    return out


SHIFTS = ("mean_0.25", "mean_0.5", "mean_1", "scale_1.5", "missing_20pct")


def statistical(windows: int, window_rows: int, seed: int) -> tuple[float, dict[str, float]]:
    rng = np.random.default_rng(seed)
    stats, cons, train = make_baseline(rng)
    false = sum(len(flagged(check(stats, cons, draw(window_rows, rng)))) for _ in range(windows))
    false_rate = false / (windows * len(FEATURES))
    detect = {}
    per_feature = max(1, windows // len(FEATURES))
    for kind in SHIFTS:
        hits = trials = 0
        for i, name in enumerate(FEATURES):
            for _ in range(per_feature):
                window = shift(draw(window_rows, rng), train, i, kind, rng)
                hits += name in flagged(check(stats, cons, window))
                trials += 1
        detect[kind] = hits / trials
    return false_rate, detect


def load_warehouse(dsn: str, models: int, rows: int, seed: int) -> None:
    import psycopg2

    rng = np.random.default_rng(seed)
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cols = ", ".join(f"{f} double precision" for f in FEATURES)
        cur.execute(f"CREATE TABLE bench (model int, event_date date, {cols})")
        for m in range(models):
            frame = pd.DataFrame(draw(rows, rng), columns=FEATURES)
            frame.insert(0, "event_date", "2026-06-01")
            frame.insert(0, "model", m)
            buf = io.StringIO()
            frame.to_csv(buf, index=False, header=False, na_rep="")
            buf.seek(0)
            cur.copy_expert("COPY bench FROM STDIN WITH (FORMAT csv)", buf)
        cur.execute("CREATE INDEX ON bench (model, event_date)")
        cur.execute("ANALYZE bench")
    conn.close()


def query(model: int) -> warehouse.Query:
    text = (
        f"SELECT {', '.join(FEATURES)} FROM bench\n"
        "WHERE model = %(model)s AND event_date >= %(start_date)s AND event_date < %(end_date)s"
    )
    params = {"model": model, "start_date": dt.date(2026, 6, 1), "end_date": dt.date(2026, 6, 2)}
    return warehouse.Query("bench.sql", text, params, 600)


def copy_only(dsn: str, models: int) -> float:
    started = time.perf_counter()
    with warehouse.connect(dsn, 600) as conn:
        for m in range(models):
            warehouse.copy_csv(conn, query(m), io.BytesIO())
    return time.perf_counter() - started


def timed(dsn: str, models: int, seed: int) -> tuple[float, dict[str, int]]:
    """Seconds to monitor every model, and how many models each kind of check flagged."""
    rng = np.random.default_rng(seed)
    baselines = [make_baseline(rng)[:2] for _ in range(models)]  # registration's work
    window = Window(dt.date(2026, 6, 1), dt.date(2026, 6, 2))
    violated: dict[str, int] = {}
    started = time.perf_counter()
    for m, (stats, cons) in enumerate(baselines):
        rows = read_query(dsn, query(m), window, 600)
        dataset_statistics(FEATURES, rows.frame[FEATURES].to_numpy(dtype=np.float64))
        values = {f: rows.values(f) for f in FEATURES}
        result = checks.data_quality(stats, cons, FEATURES, values, SETTINGS)
        for kind in {v["constraint_check_type"] for v in result.violations}:
            violated[kind] = violated.get(kind, 0) + 1
    return time.perf_counter() - started, violated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000, help="rows per model in (c)")
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--window", type=int, default=1000, help="rows per window in (a), (b)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    false_rate, detect = statistical(args.windows, args.window, args.seed)
    print(f"(a) false alarms: {false_rate:.4f} of {args.windows * 20} feature-windows")
    for kind, rate in detect.items():
        print(f"(b) detected in the first window, {kind:14}: {rate:.3f}")

    from mmeops.stack.postgres import PgCluster

    pg = PgCluster()
    dsn = pg.start()
    try:
        load_warehouse(dsn, args.models, args.rows, args.seed)
        copy_s = copy_only(dsn, args.models)
        wall, violated = timed(dsn, args.models, args.seed + 1)
    finally:
        pg.stop()
    print(f"(c) COPY alone {copy_s:.1f} s; monitor {wall:.1f} s ({wall / copy_s:.2f}x COPY)")
    print(f"(c) models flagged by check (independent draws, no shift): {violated or 'none'}")
    print(
        f"monitor false_alarm_rate={false_rate:.4f} detect_rate_0.5sd={detect['mean_0.5']:.3f} "
        f"models={args.models} wall_s={wall:.1f}"
    )


if __name__ == "__main__":
    main()
