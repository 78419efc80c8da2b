"""Issue 27, slow tier: PostgreSQL stopped mid-COPY. A warehouse of the test's own (the
stack's cluster serves the other tests) is shut down with `pg_ctl restart -m immediate` while
extract's COPY streams rows, at a random moment: the server goes away as a crash or a
failover does, and comes back on the same port with the same options. The extract ends in one
line, exit 1, nothing uploaded; the re-run uploads the dataset. `MMEOPS_FAULT_SEED` replays a
draw."""

from __future__ import annotations

import os
import random
import threading
import time

import psycopg2
import pytest
from test_extract import add_model, cli, s3_objects

from mmeops.stack.postgres import PgCluster

ITERATIONS = 2
WINDOW = ("--start", "2025-01-01", "--end", "2025-02-01")
# 300 rows, one per 10 ms: COPY streams for about 3 s.
QUERY = """SELECT id, x + (SELECT 0 FROM pg_sleep(0.01 + 0 * d.id)) AS x, y
FROM daily d
WHERE day >= %(start_date)s AND day < %(end_date)s
ORDER BY id
"""


def _copying(dsn: str) -> bool:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT 1 FROM pg_stat_activity "
                "WHERE application_name = 'mmeops-extract' AND query LIKE 'COPY%'"
            )
            return bool(cur.fetchall())
    finally:
        conn.close()


@pytest.mark.slow
def test_postgres_stopped_mid_copy_fails_in_one_line_and_the_re_run_uploads(
    stack, repo_copy, monkeypatch
):
    seed = int(os.environ.get("MMEOPS_FAULT_SEED") or random.SystemRandom().randrange(10**6))
    print(f"MMEOPS_FAULT_SEED={seed}")
    rng = random.Random(seed)
    cluster = PgCluster()
    dsn = cluster.start()
    try:
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE daily AS SELECT g AS id, date '2025-01-01' + (g - 1) / 100 AS day,"
                " g * 0.5 AS x, g % 2 AS y FROM generate_series(1, 300) g"
            )
        conn.close()
        monkeypatch.setenv("MMEOPS_WAREHOUSE_DSN", dsn)
        for i in range(ITERATIONS):
            model = add_model(repo_copy, f"stopped-{i}-{seed}", QUERY)
            after = rng.uniform(0.2, 2.0)

            def stop_mid_copy(after: float) -> None:
                deadline = time.monotonic() + 120
                while not _copying(dsn) and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(after)
                # restart reuses the options the server started with (postmaster.opts).
                data, log = str(cluster.dir / "data"), str(cluster.dir / "server.log")
                cluster._run("pg_ctl", "restart", "-w", "-m", "immediate", "-D", data, "-l", log)

            stopper = threading.Thread(target=stop_mid_copy, args=(after,))
            stopper.start()
            try:
                result = cli(repo_copy, model, *WINDOW)
            finally:
                stopper.join()
            line = result.output.strip().splitlines()[-1]
            print(f"stopped {after:.2f} s into the COPY: exit {result.exit_code}: {line}")
            assert result.exit_code == 1, result.output
            # Not the CLI's crash line ("Error: unexpected OperationalError ..."); libpq's own
            # "server closed the connection unexpectedly" is the cause, and is shown.
            assert "Traceback" not in result.output and "Error: unexpected" not in result.output
            assert line.startswith("Error: the warehouse failed during the query"), line
            assert s3_objects(repo_copy, model) == {}  # nothing uploaded

            again = cli(repo_copy, model, *WINDOW)
            assert again.exit_code == 0, again.output
            assert any(k.endswith("lineage.json") for k in s3_objects(repo_copy, model))
    finally:
        cluster.stop()
