"""The files an extract writes are byte-for-byte those of the two-process extract that came
before the single-process one (issue 28): the hashes below were printed by main at 1652b40,
whose split ran in a child process in C and in Python, on this very table. A change to how
the bytes are produced (buffers, threads, the C loop) must not change one byte of them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import psycopg2
import pytest

from mmeops.config.repo import load_repo
from mmeops.extract import copyout
from mmeops.extract import run as extract

TABLE = "same_bytes.rows"
QUERY = """SELECT t, a, b, c, d, y FROM same_bytes.rows
WHERE t >= %(start_date)s AND t < %(end_date)s
ORDER BY t
"""
# sha256 of raw, train, validation, test.csv, by split mode, from main at 1652b40.
EXPECTED = {
    "time": {
        "raw.csv": "0d144a9446e5d8dc846ac96bf4ad3114f84c7cfc8f1343812e54c6da0bdcca49",
        "train.csv": "b4772d3b911902daedefc05f7207f42e121dd3c9803788e5d94c0ffec44a6c2c",
        "validation.csv": "3648faaff1a5118bb674ce1308515a365e75e5de73ec2235de9862750259bf22",
        "test.csv": "c74d20959c1dc9d6e37888e526e4a0ae12435066c7fc6fbd0583825d2eb1d2ea",
    },
    "random": {
        "raw.csv": "60df149e8826f325ba08a494dffae36543d9e76a294496904097a0fa4447b289",
        "train.csv": "b9b86de64ffe5e6fccde3c4aebb17f498c57af067cd1c427801aaaa66e025b17",
        "validation.csv": "83cf9685d3a9274fdb15a4f1b194635f73c55c5bc29a8705e1e47fa424668742",
        "test.csv": "85aa1bce782d95f9632a2a5d2a8da1877797469e3aad466d91489551c856e445",
    },
}


@pytest.fixture(scope="module")
def table(stack) -> None:
    """3,001 rows that exercise what the split's loops special-case: NULL features (alone, in
    runs, last on a line), negative and exponent floats, numerics, bigints, and 1e+30 (text the
    scan calls odd, so the warehouse is asked, and it is within float32: the extract goes on)."""
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""
                DROP SCHEMA IF EXISTS same_bytes CASCADE;
                CREATE SCHEMA same_bytes;
                CREATE TABLE same_bytes.rows (t timestamptz, a double precision, b numeric,
                                              c bigint, d double precision, y double precision);
                INSERT INTO same_bytes.rows SELECT
                    timestamptz '2025-01-01' + g * interval '17 minutes',
                    CASE WHEN g % 11 = 0 THEN NULL ELSE sin(g) * 10 ^ (g % 9 - 4) END,
                    CASE WHEN g % 13 IN (0, 1) THEN NULL ELSE (g * 7.125) - 9000 END,
                    CASE WHEN g % 11 = 0 THEN NULL ELSE g * 104729 - 150000000 END,
                    CASE WHEN g % 11 = 0 THEN NULL WHEN g = 1500 THEN 1e30
                         ELSE cos(g) / 3 END,
                    g % 5
                FROM generate_series(1, 3001) g;
            """)  # fmt: skip
    finally:
        conn.close()


@pytest.mark.parametrize("pure", ["0", "1"], ids=["c", "python"])
@pytest.mark.parametrize("mode", ["time", "random"])
def test_the_files_are_the_bytes_the_two_process_extract_wrote(
    table, repo_copy, tmp_path, monkeypatch, mode, pure
):
    monkeypatch.setenv("MMEOPS_PURE_PYTHON", pure)
    plans: list = []  # what the C loop chose: binary COPY for this table (every column plain)
    real_plan = copyout.binary_plan
    monkeypatch.setattr(copyout, "binary_plan", lambda *a: plans.append(real_plan(*a)) or plans[-1])
    text = (repo_copy / "models" / "diabetes-progression" / "model.yaml").read_text()
    text = text.replace("name: diabetes-progression", "name: same-bytes")
    text = text.replace("target: progression", "target: y")
    time_column = "  time_column: t\n" if mode == "time" else ""
    text = text.replace("  time_column: event_date\n", time_column)
    (repo_copy / "models" / "same-bytes").mkdir()
    (repo_copy / "models" / "same-bytes" / "model.yaml").write_text(text)
    query = QUERY if mode == "time" else QUERY.replace("SELECT t, ", "SELECT ")
    (repo_copy / "models" / "same-bytes" / "query.sql").write_text(query)
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    local = extract.build_dataset(
        load_repo(repo_copy), "same-bytes", window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path
    )
    names = ("raw.csv", "train.csv", "validation.csv", "test.csv")
    got = {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in names}
    assert {n: local.files[n]["sha256"] for n in names} == got  # the figures are the files'
    assert b",nan," in (tmp_path / "train.csv").read_bytes()  # the NULLs reached the files
    assert got == EXPECTED[mode]
    assert [p[1] for p in plans] == (
        ["tdtldd" if mode == "time" else "dtldd"] if pure == "0" else []
    )
