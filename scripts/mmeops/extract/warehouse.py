"""The PostgreSQL warehouse: where the DSN comes from, connecting, describing a query's
result and streaming it out with COPY.

The password never leaves this module: every error is rebuilt from the DSN's parsed host,
port, database and user (psycopg2's own text can echo the DSN), and raised `from None`.
Parameters are bound with `cursor.mogrify`, never formatted into the SQL; COPY takes no
parameters, so the bound statement is what gets wrapped in `COPY (...) TO STDOUT`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg2
import psycopg2.extensions

from mmeops.errors import MmeopsError, UserError
from mmeops.extract import pgerrors
from mmeops.extract.sqlcheck import top_level_semicolon

# Type OIDs (pg_type) whose text form is a plain number: what the XGBoost container reads.
NUMERIC_TYPES = {20: "bigint", 21: "smallint", 23: "integer", 700: "real",
                 701: "double precision", 1700: "numeric"}  # fmt: skip
# Types whose text form never holds a comma, a quote or a line break, so COPY never quotes
# them and a record is one line: the split stage can cut lines instead of parsing CSV.
PLAIN_TYPES = {**NUMERIC_TYPES, 16: "boolean", 1082: "date", 1083: "time",
               1114: "timestamp", 1184: "timestamptz", 26: "oid"}  # fmt: skip
# Names for the types a user is most likely to select by mistake as a feature.
TYPE_NAMES = {25: "text", 1043: "varchar", 1042: "char", 16: "boolean", 1082: "date",
              1114: "timestamp", 1184: "timestamptz", 2950: "uuid", 114: "json", 3802: "jsonb",
              1083: "time", 1186: "interval"}  # fmt: skip

QUERY_CANCELED = "57014"


@dataclass(frozen=True)
class Location:
    """Where the warehouse is, for messages and lineage: never the password."""

    host: str
    port: str
    database: str
    user: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int

    @property
    def numeric(self) -> bool:
        return self.type_oid in NUMERIC_TYPES

    @property
    def plain(self) -> bool:
        return self.type_oid in PLAIN_TYPES

    @property
    def type_name(self) -> str:
        return (
            PLAIN_TYPES.get(self.type_oid)
            or TYPE_NAMES.get(self.type_oid)
            or (f"type oid {self.type_oid}")
        )


def location(dsn: str) -> Location:
    """Host, port, database and user of a DSN (URI or key=value), without the password."""
    try:
        parts = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        raise UserError("the warehouse DSN is not a valid PostgreSQL connection string") from None
    return Location(
        host=parts.get("host") or "localhost",
        port=parts.get("port") or "5432",
        database=parts.get("dbname") or parts.get("user") or "",
        user=parts.get("user") or "",
    )


def resolve_dsn(warehouse: Any, settings_source: Any, aws_factory: Any = None) -> str:
    """The DSN from the env var named in mmeops.yaml, or from Secrets Manager.

    `aws_factory` returns the training account's `Aws` (only called for a secret). A secret
    may hold the DSN itself, `{"dsn": ...}`, or RDS's `{"host", "port", "username", ...}`.
    """
    if warehouse.dsn_env:
        dsn = os.environ.get(warehouse.dsn_env)
        if not dsn:
            raise settings_source.error(
                f"environment variable {warehouse.dsn_env} (warehouse.dsn_env) is not set; "
                "export the warehouse DSN in it",
                "warehouse",
                "dsn_env",
            )
        return dsn
    secret = (
        aws_factory()
        .call("secretsmanager", "get_secret_value", SecretId=warehouse.secret_id)
        .get("SecretString")
    )
    try:
        if secret is None:
            raise ValueError("it is a binary secret")
        return dsn_from_secret(secret)
    except ValueError as e:
        # The secret's text never goes into the message: only what is wrong with its shape.
        raise settings_source.error(
            f"secret {warehouse.secret_id} (warehouse.secret_id) holds no usable DSN: {e}; store "
            'the DSN itself, {"dsn": ...}, or RDS-style JSON with host, port, username, password',
            "warehouse",
            "secret_id",
        ) from None


def dsn_from_secret(secret: str) -> str:
    """The DSN a secret holds; ValueError (saying what is wrong, never the text) otherwise."""
    text = secret.strip()
    if not text.startswith("{"):
        return text
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"broken JSON at line {e.lineno} column {e.colno}") from None
    if not isinstance(data, dict):
        raise ValueError("the JSON is not an object")
    if "dsn" in data:
        return str(data["dsn"])
    keys = {
        "host": data.get("host"),
        "port": data.get("port"),
        "dbname": data.get("dbname") or data.get("database"),
        "user": data.get("username") or data.get("user"),
        "password": data.get("password"),
    }
    return psycopg2.extensions.make_dsn(**{k: str(v) for k, v in keys.items() if v is not None})


def scrub(text: str, dsn: str) -> str:
    """`text` with the DSN's password (and the DSN itself) masked, for any message we show."""
    with contextlib.suppress(psycopg2.ProgrammingError):
        password = psycopg2.extensions.parse_dsn(dsn).get("password")
        if password:
            text = text.replace(password, "***")
    return text.replace(dsn, "***")


@contextlib.contextmanager
def connect(dsn: str, statement_timeout_s: int) -> Iterator[psycopg2.extensions.connection]:
    """A read-only connection with the statement timeout and stable text formats set."""
    where = location(dsn)
    try:
        conn = psycopg2.connect(dsn, connect_timeout=15, application_name="mmeops-extract")
    except psycopg2.OperationalError as e:
        raise UserError(_connect_message(str(e), where, dsn)) from None
    try:
        conn.set_session(readonly=True)
        conn.set_client_encoding("UTF8")
        with conn.cursor() as cur:
            # Every later transaction is read-only too, so a COMMIT cannot escape it; strings
            # are lexed as sqlcheck assumes. Sent before the query, which cannot undo them:
            # it is one statement, inside COPY.
            cur.execute(
                "SET default_transaction_read_only = on; SET standard_conforming_strings = on"
            )
            # UTC and ISO dates: the raw file is the same on every runner. Shortest exact
            # float text (the default since PostgreSQL 12) round-trips every double.
            cur.execute("SET statement_timeout = %s", (statement_timeout_s * 1000,))
            cur.execute(
                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1"
            )
        yield conn
    finally:
        conn.close()


def _connect_message(text: str, where: Location, dsn: str) -> str:
    low = text.lower()
    prefix = f"cannot connect to the warehouse at {where.address} (database {where.database})"
    if "connection refused" in low:
        reason = "connection refused; is PostgreSQL running there and is the DSN's host/port right?"
    elif "password authentication failed" in low or "no password supplied" in low:
        reason = f"authentication failed for user {where.user!r}; check the DSN's credentials"
    elif "timeout" in low or "timed out" in low:
        reason = "timed out; check the host and any firewall between"
    elif "does not exist" in low:
        reason = f"database {where.database!r} or user {where.user!r} does not exist"
    elif "could not translate host name" in low:
        reason = f"unknown host {where.host!r}"
    else:
        first = scrub(text.strip().splitlines()[0] if text.strip() else "unknown error", dsn)
        reason = first
    return f"{prefix}: {reason}"


def read_query(path: Path, shown: Path) -> str:
    """A query file's text; UserError at the line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError("not UTF-8 text; save the query file as UTF-8", shown, line) from None


@dataclass(frozen=True)
class Query:
    """A query file and its bound parameters."""

    path: Path  # as shown in messages
    text: str
    params: Mapping[str, Any]
    timeout_s: int = 0  # warehouse.statement_timeout_s, for the message when it fires

    def bound(self, cur: Any) -> str:
        """The statement with parameters bound by the driver (never by str formatting)."""
        # Only the end is trimmed: leading lines stay, so error positions map to file lines.
        body = self.text.rstrip().rstrip(";").rstrip()
        try:
            sql = cur.mogrify(body, dict(self.params)).decode("utf-8")  # client_encoding is UTF8
        except (KeyError, ValueError, TypeError, IndexError, psycopg2.ProgrammingError) as e:
            raise UserError(
                f"cannot bind parameters ({type(e).__name__}: {e}); the query may use only "
                f"{', '.join('%(' + k + ')s' for k in self.params)} and must write a literal "
                "% as %%",
                self.path,
            ) from None
        # Checked on what the server will see: a second statement could close the COPY
        # wrapper and write to the warehouse (issue 19, item 1).
        if (at := top_level_semicolon(sql)) is not None:
            raise UserError(
                "the query must be a single SELECT statement: remove this `;` and what follows "
                "it (extract runs the file inside COPY, read-only)",
                self.path,
                sql[:at].count("\n") + 1,
            )
        return sql


def _wrap(sql: str, head: str, tail: str) -> tuple[str, int]:
    """`head(\\n sql \\n)tail` and the number of lines before the query's first line; the
    line breaks keep a trailing `-- comment` in the query from swallowing the parenthesis."""
    prefix = f"{head}(\n"
    return f"{prefix}{sql}\n){tail}", prefix.count("\n")


def describe(conn: Any, query: Query) -> list[Column]:
    """The result's columns, without running the query (LIMIT 0 stops the executor at once)."""
    with conn.cursor() as cur:
        sql, before = _wrap(query.bound(cur), "SELECT * FROM ", " AS q LIMIT 0")
        with query_errors(query, sql, before):
            cur.execute(sql)
        return [Column(d.name, d.type_code) for d in cur.description]


def copy_csv(conn: Any, query: Query, sink: IO[bytes], order_by: str | None = None) -> int:
    """Stream the result as CSV with a header into `sink`; returns the row count.

    psycopg2 hands each row to `sink.write` as it arrives, so memory stays flat whatever
    the result size. `order_by`: a column the rows are sorted on here, whatever the query
    says (a time split's "newest rows" are only the newest in time order, and a query
    without ORDER BY returns rows in any order; issue 27).
    """
    with conn.cursor() as cur:
        sql, before = copy_statement(cur, query, order_by)
        with query_errors(query, sql, before):
            cur.copy_expert(sql, sink, size=1 << 20)
        return cur.rowcount


def copy_statement(cur: Any, query: Query, order_by: str | None) -> tuple[str, int]:
    """`COPY (query) TO STDOUT` as CSV with a header, and the lines it adds before the
    query's own (for query_errors)."""
    sql, before = query.bound(cur), 0
    if order_by:
        by = psycopg2.extensions.quote_ident(order_by, cur)
        sql, before = _wrap(sql, "SELECT * FROM ", f" AS q ORDER BY {by}")
    sql, outer = _wrap(sql, "COPY ", " TO STDOUT WITH (FORMAT csv, HEADER)")
    return sql, before + outer


def binary_copy_statement(
    cur: Any, query: Query, order_by: str | None, columns: list[Column], sent: Collection[int]
) -> tuple[str, int]:
    """`COPY (SELECT q.col, q.col::text, ... FROM (query) q) TO STDOUT (FORMAT binary)`: a
    column whose type is in `sent` as its bytes, any other cast to text on the server (the
    type's output function, which COPY's text calls too), and the lines added before the
    query's own. The columns' names must be distinct (each is named once). The ORDER BY is
    the outermost clause, on the column itself (`q.col`, not its text): only an outer ORDER BY
    fixes the order of what COPY sends."""
    ident = psycopg2.extensions.quote_ident
    select = ", ".join(
        f"q.{ident(c.name, cur)}" + ("" if c.type_oid in sent else "::text") for c in columns
    )
    by = f" ORDER BY q.{ident(order_by, cur)}" if order_by else ""
    return _wrap(
        query.bound(cur), f"COPY (SELECT {select} FROM ", f" AS q{by}) TO STDOUT (FORMAT binary)"
    )


@contextlib.contextmanager
def query_errors(query: Query, sql: str, lines_before: int) -> Iterator[None]:
    """Turn the server's complaints about the query into a UserError on the query file."""
    try:
        yield
    except OSError as e:  # writing the result: a full disk, a folder gone
        raise MmeopsError(f"cannot write the query's result: {e.strerror or e}") from None
    except (psycopg2.Error, pgerrors.CopyFailed) as e:
        code = e.pgcode or ""
        if code == QUERY_CANCELED:
            raise UserError(
                f"the query ran longer than warehouse.statement_timeout_s ({query.timeout_s} s) "
                "and was cancelled; narrow the window (--start/--end), add an index, or raise "
                "statement_timeout_s in mmeops.yaml",
                query.path,
            ) from None
        if not code or pgerrors.is_runtime(code):
            # No SQLSTATE: the connection itself broke (the server went away mid-COPY).
            reason = pgerrors.describe(code) if code else "connection lost"
            raise MmeopsError(
                f"the warehouse failed during the query of {query.path}: {reason} "
                f"(SQLSTATE {code or 'none'}: {_first_line(e)})"
            ) from None
        raise UserError(
            f"PostgreSQL: {_first_line(e)} (SQLSTATE {code}, {pgerrors.describe(code)})",
            query.path,
            _line_of(e, sql, lines_before),
        ) from None


def _first_line(e: psycopg2.Error | pgerrors.CopyFailed) -> str:
    text = (e.diag.message_primary or e.pgerror or str(e) or "").strip()
    return text.splitlines()[0] if text else type(e).__name__


def _line_of(e: psycopg2.Error | pgerrors.CopyFailed, sql: str, lines_before: int) -> int | None:
    """The query file's line of the error position PostgreSQL reports (1-based chars).

    Bound parameters (quoted dates) hold no line breaks, so counting them in the bound
    statement gives the file's line.
    """
    pos = e.diag.statement_position
    if not pos or not pos.isdigit():
        return None
    line = sql[: int(pos) - 1].count("\n") - lines_before + 1
    return line if line >= 1 else None


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*$")


def simple_name(name: str) -> bool:
    """A column name COPY writes unquoted in the header (no comma, quote or line break)."""
    return bool(_IDENTIFIER.match(name))
