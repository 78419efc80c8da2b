"""COPY's rows straight into a file descriptor: the extract's COPY loop.

psycopg2's copy_expert calls a Python `write` for every row (libpq's PQgetCopyData returns
one row per call): at 2,000,000 rows, 2,000,000 bytes objects, calls and GIL hand-offs, the
largest CPU cost of an extract after the split's own work, and on 2 cores CPU the server and
the split's thread were waiting for (issue 28). The C loop (_fastsplit.copy_out) runs the
same statement on psycopg2's own libpq connection (`connection.pgconn_ptr`, which psycopg2
exposes for libpq calls) and writes the rows in chunks without the GIL; Python runs once per
chunk (`written`). Errors come back as what psycopg2 would raise for them (pgerrors.CopyFailed
carries the same SQLSTATE, message and position), so warehouse.query_errors reports both
loops alike.

Given the result's columns, the C loop asks for binary COPY when every column is a plain type
(binary_plan): the server then sends doubles as their 8 bytes instead of printing them (most of
its CPU in an extract), and the loop writes the same CSV text COPY would, byte for byte.

Without the extension, on a system without /proc/self/maps (where the libpq psycopg2 loaded
is found), or with MMEOPS_PURE_PYTHON=1, the rows go through copy_expert as before.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmeops.errors import MmeopsError
from mmeops.extract import pgerrors, warehouse
from mmeops.extract.read import READ_SIZE, native

PGRES_COMMAND_OK = 1  # libpq-fe.h's ExecStatusType
# What the loop gathers before a write: the size the split's thread reads (read.READ_SIZE).
CHUNK = READ_SIZE

Written = Callable[[int], None]  # bytes written so far; raising stops the COPY


def libpq_path() -> str | None:
    """The file of the libpq psycopg2 loaded (psycopg2-binary bundles its own), or None:
    no /proc (not Linux), or not exactly one libpq mapped."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split(None, 5)[-1] for line in maps.splitlines() if "/libpq" in line}
    paths = {p for p in paths if Path(p).name.startswith("libpq") and ".so" in p}
    return paths.pop() if len(paths) == 1 else None


def copy_to_fd(
    conn: Any,
    query: warehouse.Query,
    fd: int,
    written: Written,
    order_by: str | None = None,
    chunk: int = CHUNK,
    columns: list[warehouse.Column] | None = None,
) -> int:
    """Stream the query's result as CSV with a header into `fd`; returns the row count.
    `written` runs after each write: of about `chunk` bytes, or one longer row. `columns`
    (warehouse.describe's): the C loop may then ask for binary COPY (see binary_plan)."""
    fast, path = native(), libpq_path()
    if fast is None or path is None or not hasattr(fast, "copy_out"):
        sink = io.BufferedWriter(_Sink(fd, written), chunk)
        rows = warehouse.copy_csv(conn, query, sink, order_by)
        sink.flush()
        return rows
    plan = binary_plan(conn, columns) if columns is not None else None
    with conn.cursor() as cur:
        if plan:
            sql, before = warehouse.binary_copy_statement(cur, query, order_by, columns, SENT)
        else:
            sql, before = warehouse.copy_statement(cur, query, order_by)
    with warehouse.query_errors(query, sql, before):
        try:
            status, rows, code, message, position = fast.copy_out(
                path, conn.pgconn_ptr, sql.encode(), fd, chunk, written, *(plan or ())
            )
        except ValueError as e:  # binary data not in the format asked for: never a traceback
            raise MmeopsError(f"the warehouse's COPY data cannot be read: {e}") from None
        if status != PGRES_COMMAND_OK:
            raise pgerrors.CopyFailed(code, message, position)
    return rows


# The plain types binary COPY sends as bytes, which the C loop prints as text COPY does, by
# the letter it knows them by. float8 because printing doubles was most of the server's CPU
# in an extract (issue 28); boolean because boolean::text says `true` where COPY says `t`;
# the integers because their bytes cost less to send and print than their text. Every
# other plain type is cast to text on the server.
SENT = {701: "d", 16: "b", 21: "h", 23: "i", 20: "l"}
FLOAT8 = 701


def binary_plan(conn: Any, columns: list[warehouse.Column]) -> tuple[bytes, str] | None:
    """(the header line, a letter per column) when binary COPY can give text COPY's exact
    bytes, else None (text COPY, as before): every column plain (its text never needs CSV
    quoting), the names distinct (each is selected by name), and for float8 the server's
    shortest exact text, which the C loop writes: PostgreSQL 12 or later with
    extra_float_digits > 0 (warehouse.connect sets 1)."""
    names = [c.name for c in columns]
    if not all(c.plain for c in columns) or len(set(names)) != len(names):
        return None
    if any(c.type_oid == FLOAT8 for c in columns):
        with conn.cursor() as cur:
            cur.execute("SHOW extra_float_digits")
            digits = int(cur.fetchone()[0])
        if conn.server_version < 120000 or digits <= 0:
            return None
    return csv_header(names), "".join(SENT.get(c.type_oid, "t") for c in columns)


def csv_header(names: list[str]) -> bytes:
    """The header line COPY (FORMAT csv, HEADER) writes: a name is quoted when it holds the
    delimiter, a quote, CR or LF, is empty (CSV's NULL), or is `\\.` alone on the line (the
    end-of-data marker), a quote inside doubled (PostgreSQL's copyto.c, CopyAttributeOutCSV)."""

    def field(name: str) -> str:
        quote = name == "" or any(c in name for c in ',"\r\n')
        if quote or (len(names) == 1 and name == "\\."):
            return '"' + name.replace('"', '""') + '"'
        return name

    return (",".join(map(field, names)) + "\n").encode()


class _Sink(io.RawIOBase):
    """Where copy_expert's rows go without the C loop (behind a buffer of `chunk` bytes:
    copy_expert writes a row at a time): `fd`, then `written`."""

    def __init__(self, fd: int, written: Written):
        self.fd, self.written, self.bytes = fd, written, 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        with memoryview(b) as view:
            while view:
                view = view[os.write(self.fd, view) :]
        self.bytes += len(b)
        self.written(self.bytes)
        return len(b)
