"""Issue 19, item 8: every warehouse error is one line. Errors of the query (by SQLSTATE class,
PostgreSQL manual Appendix A) are exit 2 at the query file's line; the warehouse failing
under it (the connection dropped mid-COPY) is exit 1, "connection lost"; nothing is uploaded."""

from __future__ import annotations

import os
import re
import threading
import time

import psycopg2
import pytest
from test_extract import SCHEMA, add_model, cli, s3_objects, tables  # noqa: F401

WINDOW = ("--start", "2025-01-01", "--end", "2025-02-01")
WHERE = "WHERE day >= %(start_date)s AND day < %(end_date)s"

# SQLSTATE classes a query can reach, each with the line the server points at.
QUERY_ERRORS = {
    "22 division by zero": (f"SELECT id, x / 0 AS x, y\nFROM {SCHEMA}.daily\n{WHERE}\n", "22012"),
    "21 cardinality": (
        f"SELECT id, (SELECT g FROM generate_series(1, 2) g) AS x, y\nFROM {SCHEMA}.daily\n"
        f"{WHERE}\n",
        "21000",
    ),
    "25 writes in a read-only session": (
        f"SELECT id, nextval('{SCHEMA}.seq') AS x, y\nFROM {SCHEMA}.daily\n{WHERE}\n",
        "25006",
    ),
    "42 unknown schema": (f"SELECT id, x, y\nFROM nowhere.daily\n{WHERE}\n", "42P01"),
}


@pytest.fixture(scope="module")
def sequence(tables) -> None:  # noqa: F811 (the fixture imported above)
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.seq")
    conn.close()


@pytest.mark.parametrize("case", sorted(QUERY_ERRORS))
def test_a_query_error_of_any_class_is_exit_2_at_its_line(sequence, repo_copy, case):
    query, sqlstate = QUERY_ERRORS[case]
    model = add_model(repo_copy, "err-" + re.sub(r"[^a-z0-9]+", "-", case), query)
    result = cli(repo_copy, model, *WINDOW)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: models/{model}/query.sql:"), line
    assert f"SQLSTATE {sqlstate}" in line
    assert s3_objects(repo_copy, model) == {}


def test_a_literal_percent_is_written_as_two_and_a_lone_one_is_exit_2(tables, repo_copy):  # noqa: F811
    query = f"SELECT id, x, y FROM {SCHEMA}.daily\n{WHERE} AND 'ab' LIKE 'a%%'\n"
    model = add_model(repo_copy, "percent", query)
    result = cli(repo_copy, model, "--start", "2025-01-01", "--end", "2025-01-02")
    assert result.exit_code == 0, result.output
    assert "100 rows" in result.output
    lone = add_model(repo_copy, "percent-lone", query.replace("'a%%'", "'a%'"))
    result = cli(repo_copy, lone, *WINDOW)
    assert result.exit_code == 2, result.output
    assert "must write a literal % as %%" in result.output


def test_a_non_utf8_query_file_is_exit_2_at_its_line(tables, repo_copy):  # noqa: F811
    model = add_model(repo_copy, "latin1", "")
    path = repo_copy / "models" / model / "query.sql"
    text = f"SELECT id, x, y FROM {SCHEMA}.daily\n-- caf\xe9\n{WHERE}\n"
    path.write_bytes(text.encode("latin-1"))
    result = cli(repo_copy, model, *WINDOW)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"Error: models/{model}/query.sql:2: not UTF-8 text; save the query file as UTF-8"
    )


def test_the_server_going_away_mid_copy_is_exit_1_connection_lost(tables, repo_copy):  # noqa: F811
    # Rows arrive one per 50 ms (the sleep's argument names the row, so it runs per row);
    # the backend is terminated while COPY streams them.
    query = (
        f"SELECT id, x + (SELECT 0 FROM pg_sleep(0.05 + 0 * d.id)) AS x, y\n"
        f"FROM {SCHEMA}.daily d\n{WHERE}\n"
    )
    model = add_model(repo_copy, "dropped", query)
    stop = threading.Event()

    def terminate() -> None:
        conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'mmeops-extract' AND query LIKE 'COPY%'"
                )
                if cur.fetchall():
                    break
                time.sleep(0.05)
        conn.close()

    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        result = cli(repo_copy, model, *WINDOW)
    finally:
        stop.set()
        killer.join()
    assert result.exit_code == 1, result.output
    # psycopg2 itself prints the server's AdminShutdown and a SystemError from its decoder
    # to stderr before our line (a driver quirk, left alone); ours is the last line.
    line = result.output.strip().splitlines()[-1]
    assert "the warehouse failed during the query" in line, line
    assert "retry" in line or "connection lost" in line, line
    assert s3_objects(repo_copy, model) == {}


def test_an_out_folder_that_cannot_be_one_is_exit_2_before_the_query(tables, repo_copy, tmp_path):  # noqa: F811
    model = add_model(
        repo_copy, "out-under-a-file", f"SELECT id, x, y FROM {SCHEMA}.daily\n{WHERE}\n"
    )
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "dataset"
    result = cli(repo_copy, model, *WINDOW, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"Error: --out {out} cannot be a folder: {tmp_path / 'a-file'} is a file; "
        "pass a folder you can write"
    )
    assert s3_objects(repo_copy, model) == {}
