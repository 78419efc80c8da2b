"""A model's query can read the warehouse and nothing else (issue 19, item 1).

Two layers, each checked against the real PostgreSQL of the embedded stack: extract refuses a
query file holding a second statement before sending anything, and every transaction of its
session is read-only, so even a COMMIT sent on that connection cannot open a writable one.
"""

from __future__ import annotations

import os

import psycopg2
import pytest
from test_extract import SCHEMA, add_model, cli, s3_objects, tables  # noqa: F401

from helpers import warehouse_sql
from mmeops.extract import warehouse
from mmeops.extract.sqlcheck import top_level_semicolon

VICTIM = f"{SCHEMA}.victim"
WINDOW = ("--start", "2025-01-01", "--end", "2025-02-01")
HEAD = f"SELECT id, x, y FROM {SCHEMA}.daily WHERE day >= %(start_date)s AND day < %(end_date)s"

# Each closes the `COPY (` extract wraps the query in, then tries to write.
ESCAPES = {
    "commit-then-drop": f"{HEAD}\n) TO STDOUT; COMMIT; DROP TABLE {VICTIM}; COPY (SELECT 1\n",
    "read-write-again": (
        f"{HEAD}\n) TO STDOUT;\nSET default_transaction_read_only = off;\n"
        f"COMMIT; DELETE FROM {VICTIM}; COPY (SELECT 1\n"
    ),
    "after-a-string": f"{HEAD} AND 'it''s' <> E'\\';'\n; DROP TABLE {VICTIM}\n",
}


def victim_rows() -> int:
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {VICTIM}")
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def victim(tables) -> None:  # noqa: F811 (the fixture imported above)
    warehouse_sql(f"DROP TABLE IF EXISTS {VICTIM}; CREATE TABLE {VICTIM} AS SELECT 1 AS keep")


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_query_with_a_second_statement_is_refused_and_the_warehouse_is_untouched(
    victim, repo_copy, case
):
    model = add_model(repo_copy, f"escape-{case}", ESCAPES[case])
    result = cli(repo_copy, model, *WINDOW)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: models/{model}/query.sql:"), line
    assert "single SELECT statement" in line
    # The line named is the one holding the `;`.
    number = int(line.split(":")[2])
    assert ";" in ESCAPES[case].splitlines()[number - 1]
    assert victim_rows() == 1
    assert s3_objects(repo_copy, model) == {}


def test_semicolons_inside_quotes_and_comments_are_part_of_the_one_statement(
    tables,  # noqa: F811
    repo_copy,
):
    query = (
        f'SELECT id, x, y AS "y" FROM {SCHEMA}.daily -- a comment; with a semicolon\n'
        "WHERE day >= %(start_date)s AND day < %(end_date)s\n"
        "  AND 'a;b' <> $$;$$ AND $q$ ; $q$ <> E'\\';' /* nested /* ; */ ; */\n"
        "ORDER BY id;\n"
    )
    model = add_model(repo_copy, "semicolons-inside", query)
    result = cli(repo_copy, model, "--start", "2025-01-01", "--end", "2025-01-03")
    assert result.exit_code == 0, result.output
    assert "200 rows" in result.output


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("SELECT 1", None),
        ("SELECT 1; SELECT 2", 8),
        ("SELECT ';' || \"a;\" -- ;\n", None),
        ("SELECT $a$;$a$, $$;$$, $1;", 25),
        ("SELECT a$b$c; x", 12),  # `$` inside an identifier opens no dollar quote
        ("SELECT e'\\';', 'x\\'; y'", 19),  # standard strings: a backslash is a character
        ("SELECT /* /* ; */ ; */ 1", None),
        ("SELECT 'unterminated ;", None),
    ],
)
def test_the_statement_check_follows_postgresqls_lexer(text, at):
    """PostgreSQL's lexer rules (src/backend/parser/scan.l: xq, xe, xd, xdolq, xc nesting)."""
    assert top_level_semicolon(text) == at


def test_a_commit_on_the_extract_connection_cannot_open_a_writable_transaction(victim):
    dsn = os.environ["MMEOPS_WAREHOUSE_DSN"]
    with (
        warehouse.connect(dsn, 30) as conn,
        conn.cursor() as cur,
        pytest.raises(psycopg2.errors.ReadOnlySqlTransaction),
    ):
        cur.execute(f"COMMIT; DELETE FROM {VICTIM}")
    assert victim_rows() == 1
