"""Issue 17, item 4: `mmeops new` starts a model from a table's own catalog, and what it
writes validates and retrains end to end on the embedded stack."""

from __future__ import annotations

import os

import psycopg2
import pytest
from click.testing import CliRunner

from mmeops.cli import main

SCHEMA = "q17new"


@pytest.fixture(scope="module")
def table(stack) -> str:
    """Two years of daily rows: numeric, text, boolean and date columns; a 0/1 label that the
    numeric columns decide."""
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"""
                DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA};
                CREATE TABLE {SCHEMA}.visits (
                    id int, seen_on date, age real, spend numeric, score double precision,
                    city text, member boolean, converted int);
                INSERT INTO {SCHEMA}.visits
                    SELECT g, date '2024-01-01' + g * 2, 20 + g % 50, (g * 37 % 101)::numeric,
                           (g * 53 % 97) / 97.0, 'city' || g % 5, g % 3 = 0,
                           ((g * 37 % 101) + (g * 53 % 97) > 100)::int
                    FROM generate_series(0, 364) g;
                CREATE TABLE {SCHEMA}.flat (a real, y int);
                CREATE TABLE {SCHEMA}.tiny (d date, a real, y int);
                INSERT INTO {SCHEMA}.tiny VALUES
                    ('2024-01-01', 1, 0), ('2024-01-02', 2, 1), ('2024-01-03', 3, 0);
            """)  # fmt: skip
    finally:
        conn.close()
    return f"{SCHEMA}.visits"


def run(root, *args: str):
    return CliRunner().invoke(main, ["--repo", str(root), *args])


def test_new_writes_a_model_from_the_catalog_that_validates_and_retrains(table, repo_copy):
    result = run(repo_copy, "new", "visits", "--table", table, "--target", "converted")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "wrote models/visits/model.yaml and models/visits/query.sql (binary)"
    assert "  window: from 2024-01-01 (365 rows up to 2025-12-29); split on seen_on" in lines
    assert "  features (4): id, age, spend, score" in lines
    assert "  left out city: text: not a number; encode it in query.sql to use it" in lines
    assert any(line.startswith("  left out member: boolean: not a number") for line in lines)
    text = (repo_copy / "models" / "visits" / "model.yaml").read_text()
    assert "  start: 2024-01-01\n" in text and "  time_column: seen_on\n" in text
    assert "objective_metric: validation:logloss" in text
    assert run(repo_copy, "validate").exit_code == 0

    retrained = run(repo_copy, "retrain", "visits", "--backend", "local", "--max-jobs", "2")
    assert retrained.exit_code == 0, retrained.output
    assert "extract:  365 rows (train 219 / validation 73 / test 73)" in retrained.output
    assert "registered visits version 1" in retrained.output


def test_regression_target_gets_a_bound_from_its_own_spread(table, repo_copy):
    result = run(repo_copy, "new", "spend", "--table", table, "--target", "spend")
    assert result.exit_code == 0, result.output
    assert "(regression)" in result.output.splitlines()[0]
    text = (repo_copy / "models" / "spend" / "model.yaml").read_text()
    assert "  metric: rmse\n" in text
    assert "    - {metric: r2, bound: 0.2, tolerance: 0.05}\n" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "q17new.nope", "--target", "x"], "table q17new.nope is not in the warehouse"),
        (["--table", "q17new.visits", "--target", "nope"], "--target 'nope' is not a column"),
        (["--table", "q17new.visits", "--target", "city"], "--target 'city' is text"),
        (["--table", "q17new.flat", "--target", "y"], "has no date or timestamp column"),
        (["--table", "q17new.tiny", "--target", "y"], "has 3 rows, fewer than 10: too few"),
        (
            ["--table", "q17new.visits", "--target", "age", "--problem", "binary"],
            "--problem binary needs a target of 0 and 1",
        ),
        (
            ["--table", "q17new.visits", "--target", "converted", "--time-column", "age"],
            "--time-column 'age' is real, not a date or timestamp; name one of seen_on",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(table, repo_copy, args, message):
    result = run(repo_copy, "new", "bad", *args)
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert message in line
    assert not (repo_copy / "models" / "bad").exists()


def test_an_existing_model_is_never_overwritten(table, repo_copy):
    before = (repo_copy / "models" / "breast-cancer" / "model.yaml").read_text()
    result = run(repo_copy, "new", "breast-cancer", "--table", table, "--target", "converted")
    assert result.exit_code == 2
    assert "models/breast-cancer already exists" in result.output
    assert (repo_copy / "models" / "breast-cancer" / "model.yaml").read_text() == before


def test_column_names_with_quotes_percent_and_hash_give_sql_and_yaml_that_parse(table, repo_copy):
    """Issue 27: a column named `a"b` once gave a query.sql PostgreSQL could not parse; `%`
    is read by psycopg2 (bound parameters) and `#` starts a YAML comment."""
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f'''
                DROP TABLE IF EXISTS {SCHEMA}.odd; CREATE TABLE {SCHEMA}.odd (
                    "say ""hi""" real, "x%y" real, "Day#1" date, "lab""el" int);
                INSERT INTO {SCHEMA}.odd
                    SELECT g, g % 7, date '2024-01-01' + g, (g % 7 > 3)::int
                    FROM generate_series(0, 199) g;
            ''')  # fmt: skip
    finally:
        conn.close()
    result = run(repo_copy, "new", "odd", "--table", f"{SCHEMA}.odd", "--target", 'lab"el')
    assert result.exit_code == 0, result.output
    assert run(repo_copy, "validate").exit_code == 0
    extracted = run(repo_copy, "extract", "odd")
    assert extracted.exit_code == 0, extracted.output
    assert "extracted odd: 200 rows" in extracted.output


def test_extract_refuses_a_window_of_three_rows_before_uploading(table, repo_copy):
    """Issue 27: three rows once split 1/1/1 and went on to a gate judged on one test row."""
    assert run(repo_copy, "new", "visits", "--table", table, "--target", "converted").exit_code == 0
    result = run(repo_copy, "extract", "visits", "--start", "2024-01-01", "--end", "2024-01-07")
    assert result.exit_code == 2, result.output
    assert "only 3 rows in the window" in result.output and "fewer than 10" in result.output
    assert "models/visits/query.sql" in result.output
