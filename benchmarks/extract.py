"""Extraction speed and memory: mmeops extract (to local files, no upload) against
`psql \\copy` (the floor) and `pandas.read_sql_query` + `to_csv` (the seed article's way).

    python benchmarks/extract.py --rows 2000000 [--split time|random] [--repeat 5]

Builds an N-row, 12-column table (a time column, 10 features, a label) in a throwaway
PostgreSQL cluster (the stack's PostgreSQL part alone), then runs each method in its own
process and reads its wall time and peak RSS (ru_maxrss from wait4: the process's, or a
child's if larger; an extract is one process, its split a thread). psql and mmeops run in
pairs, --repeat times, the pair's order alternating (which one runs first never favours
either), after one untimed run of each. Last line:

    extract rows=N vs_psql=X.XX peak_rss_mb=Z runs=K

vs_psql = the median over the K pairs of (our time / psql's time in the same pair): a
shared runner's load changes from minute to minute, and a pair's two runs share it. Times
are taken inside each process after its imports (the whole-process figures are printed
above, with the ratio of the medians and vs_pandas = pandas' time / ours' median), and so is
the CPU of the timed part (psql: its whole process, as a child of the timing one).
Targets (issue 28): vs_psql <= 1.0 at 2,000,000 rows, peak_rss_mb <= 100.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
MODEL = "bench-extract"
QUERY = """-- 12 columns: time, ten features, label (the diabetes model's layout).
SELECT event_time, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, label
FROM bench.rows
WHERE event_time >= %(start_date)s
  AND event_time < %(end_date)s
ORDER BY event_time
"""
START, END = "2020-01-01", "2030-01-01"


def build_table(dsn: str, rows: int) -> None:
    import psycopg2

    features = ", ".join(f"f{i} double precision" for i in range(10))
    values = ", ".join("random()" for _ in range(10))
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA bench")
        cur.execute(
            f"CREATE TABLE bench.rows (event_time timestamptz, {features}, label double precision)"
        )
        cur.execute(
            f"INSERT INTO bench.rows SELECT timestamptz '2021-01-01' + g * "
            f"interval '1 second', {values}, random() FROM generate_series(1, %s) g",
            (rows,),
        )
    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # VACUUM runs outside a transaction
    conn.cursor().execute("VACUUM ANALYZE bench.rows")
    # The table and its WAL are gigabytes of dirty pages: flush them now, or the kernel
    # writes them back during the first timed runs, which then measure the disk.
    conn.cursor().execute("CHECKPOINT")
    conn.close()
    os.sync()


def make_repo(root: Path, split: str) -> None:
    shutil.copy2(REPO / "mmeops.yaml", root / "mmeops.yaml")
    model = root / "models" / MODEL
    model.mkdir(parents=True)
    text = (REPO / "models" / "diabetes-progression" / "model.yaml").read_text()
    text = text.replace("name: diabetes-progression", f"name: {MODEL}")
    text = text.replace("target: progression", "target: label")
    if split == "time":
        text = text.replace("time_column: event_date", "time_column: event_time")
        query = QUERY
    else:  # no time column: every selected column but the label is a feature
        text = text.replace("  time_column: event_date\n", "")
        query = QUERY.replace("SELECT event_time, ", "SELECT ")
    (model / "model.yaml").write_text(text)
    (model / "query.sql").write_text(query)


# --- the methods, each run as `benchmarks/extract.py --method NAME` in its own process --------


def run_mmeops(repo_root: Path, out: Path) -> None:
    import datetime as dt

    from mmeops.config.repo import load_repo
    from mmeops.extract import run as extract

    repo = load_repo(repo_root)
    window = extract.Window(dt.date.fromisoformat(START), dt.date.fromisoformat(END))
    started, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    local = extract.build_dataset(repo, MODEL, window, os.environ["BENCH_DSN"], out)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"rows": local.rows, "seconds": seconds, "cpu": _cpu(resource.RUSAGE_SELF) - cpu}
        )
    )


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_pandas(repo_root: Path, out: Path) -> None:
    import warnings

    import pandas as pd
    import psycopg2

    warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy; psycopg2 works
    query = (repo_root / "models" / MODEL / "query.sql").read_text()
    started = time.perf_counter()
    with psycopg2.connect(os.environ["BENCH_DSN"]) as conn:
        frame = pd.read_sql_query(query, conn, params={"start_date": START, "end_date": END})
    frame.to_csv(out / "pandas.csv", index=False)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds}))


def run_psql(repo_root: Path, out: Path) -> None:
    import psycopg2
    import psycopg2.extensions

    query = (repo_root / "models" / MODEL / "query.sql").read_text()
    with psycopg2.connect(os.environ["BENCH_DSN"]) as conn, conn.cursor() as cur:
        sql = cur.mogrify(query.split("\n", 1)[1], {"start_date": START, "end_date": END})
    copy = f"\\copy ({' '.join(sql.decode().split())}) TO '{out / 'psql.csv'}' WITH CSV HEADER"
    started = time.perf_counter()
    # Connection settings through libpq's variables: a password in argv shows in `ps`.
    parts = psycopg2.extensions.parse_dsn(os.environ["BENCH_DSN"])
    env = {**os.environ, "PGHOST": parts["host"], "PGPORT": parts["port"],
           "PGUSER": parts["user"], "PGPASSWORD": parts["password"],
           "PGDATABASE": parts["dbname"]}  # fmt: skip
    subprocess.run(["psql", "-X", "-q", "-c", copy], check=True, env=env)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = {"child_rss_kb": children, "psql_only": True, "seconds": seconds}
    print(json.dumps({**report, "cpu": _cpu(resource.RUSAGE_CHILDREN)}))


class Run(NamedTuple):
    seconds: float  # the extraction itself, timed inside the process after imports
    wall: float  # the whole process
    rss_mb: float  # peak RSS
    cpu: float  # user + system CPU seconds of the process and its children (not the server's)
    work_cpu: float  # the part of `cpu` in `seconds` (psql: its whole process)


def measure(method: str, env: dict, repo_root: Path, out: Path) -> Run:
    """One method in a fresh process. Interpreter start and imports are a fixed cost, not a
    cost per row, hence `seconds`."""
    name = "mmeops" if method == "mmeops-python" else method
    cmd = [sys.executable, __file__, "--method", name, "--repo", str(repo_root),
           "--out", str(out)]  # fmt: skip
    if method == "mmeops-python":
        env = {**env, "MMEOPS_PURE_PYTHON": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{method} failed")
    report = json.loads(output.decode().strip().splitlines()[-1])
    # psql: the floor is psql itself, not the Python that starts it. mmeops: the process, or
    # a child of it if larger (Linux keeps the largest; croniter's import runs `file`).
    rss_kb = report["child_rss_kb"] if report.get("psql_only") else usage.ru_maxrss
    for f in out.iterdir():
        f.unlink()
    os.sync()  # nothing a run wrote is left for the next one to wait on
    cpu = usage.ru_utime + usage.ru_stime
    return Run(report["seconds"], wall, rss_kb / 1024, cpu, report.get("cpu", cpu))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument(
        "--split",
        choices=("time", "random"),
        default="time",
        help="the model's split: time (12 columns, newest rows held out) or random "
        "(the 11 columns but the time column, seeded)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="pairs of psql and mmeops runs, alternating which runs first; the median of the "
        "pairs' ratios counts (a shared runner is noisy)",
    )
    p.add_argument("--skip-pandas", action="store_true", help="(slow and 2 GB at 2M rows)")
    p.add_argument(
        "--python-loops",
        action="store_true",
        help="also run mmeops with MMEOPS_PURE_PYTHON=1 (the split without its C loops)",
    )
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.method:
        methods = {"mmeops": run_mmeops, "pandas": run_pandas, "psql": run_psql}
        methods[args.method](args.repo, args.out)
        return

    from mmeops.stack.postgres import PgCluster

    pg = PgCluster()
    with tempfile.TemporaryDirectory(prefix="mmeops-bench-") as tmp:
        root, out = Path(tmp) / "repo", Path(tmp) / "out"
        root.mkdir()
        out.mkdir()
        try:
            dsn = pg.start()
            t = time.perf_counter()
            build_table(dsn, args.rows)
            print(f"built {args.rows:,} rows x 12 columns in {time.perf_counter() - t:.1f} s")
            make_repo(root, args.split)
            from mmeops.extract.read import native

            loops = "C" if native() else "Python (no C build, or MMEOPS_PURE_PYTHON=1)"
            print(f"split loops: {loops}")
            env = {**os.environ, "BENCH_DSN": dsn, "MMEOPS_WAREHOUSE_DSN": dsn}
            ours = ["mmeops", "mmeops-python"] if args.python_loops else ["mmeops"]
            # One untimed run of each first: on a VM, memory the kernel has not touched for a
            # while costs a fault in the hypervisor on first use (here about 3 µs a page), and
            # that would count against whichever method ran first and wrote the most.
            for method in ["psql", *ours]:
                measure(method, env, root, out)
            runs: dict[str, list[Run]] = {}
            for i in range(args.repeat):
                pair = ["psql", *ours] if i % 2 == 0 else [*ours, "psql"]
                for method in pair + (["pandas"] if i == 0 and not args.skip_pandas else []):
                    run = measure(method, env, root, out)
                    runs.setdefault(method, []).append(run)
                    print(
                        f"{i + 1:2d} {method:13s} {run.seconds:6.2f} s (process "
                        f"{run.wall:6.2f} s, CPU {run.cpu:5.2f} s, of it {run.work_cpu:5.2f} s in "
                        f"the timed part)  peak RSS {run.rss_mb:6.1f} MB",
                        flush=True,
                    )
        finally:
            pg.stop()
    report(args, runs)


def report(args: argparse.Namespace, runs: dict[str, list[Run]]) -> None:
    """Medians of each method, then the last line (the median of the pairs' ratios)."""
    median = {m: statistics.median(r.seconds for r in rs) for m, rs in runs.items()}
    whole = {m: statistics.median(r.wall for r in rs) for m, rs in runs.items()}
    cpu = {m: statistics.median(r.cpu for r in rs) for m, rs in runs.items()}
    work = {m: statistics.median(r.work_cpu for r in rs) for m, rs in runs.items()}
    for m in median:
        print(
            f"median {m:13s} {median[m]:6.2f} s, client CPU {cpu[m]:5.2f} s "
            f"({work[m]:5.2f} s in the timed part)"
        )
    pairs = [
        ours.seconds / floor.seconds
        for ours, floor in zip(runs["mmeops"], runs["psql"], strict=True)
    ]
    print("pairs' vs_psql: " + " ".join(f"{r:.2f}" for r in pairs))
    if "mmeops-python" in median:
        print(f"without the C loops: vs_psql={median['mmeops-python'] / median['psql']:.2f}")
    if "pandas" in median:
        print(f"vs_pandas={median['pandas'] / median['mmeops']:.1f} (pandas' time / ours)")
    print(
        f"split={args.split}; ratio of the medians {median['mmeops'] / median['psql']:.2f}; "
        f"whole processes: {whole['mmeops'] / whole['psql']:.2f}"
    )
    rss = max(r.rss_mb for r in runs["mmeops"])
    print(
        f"extract rows={args.rows} vs_psql={statistics.median(pairs):.2f} "
        f"peak_rss_mb={rss:.0f} runs={len(pairs)}"
    )


if __name__ == "__main__":
    main()
