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

Without the extension, on a system without /proc/self/maps (where the libpq psycopg2 loaded
is found), or with MMEOPS_PURE_PYTHON=1, the rows go through copy_expert as before.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
) -> int:
    """Stream the query's result as CSV with a header into `fd`; returns the row count.
    `written` runs after each write: of about `chunk` bytes, or one longer row."""
    fast, path = native(), libpq_path()
    if fast is None or path is None or not hasattr(fast, "copy_out"):
        sink = io.BufferedWriter(_Sink(fd, written), chunk)
        rows = warehouse.copy_csv(conn, query, sink, order_by)
        sink.flush()
        return rows
    with conn.cursor() as cur:
        sql, before = warehouse.copy_statement(cur, query, order_by)
    with warehouse.query_errors(query, sql, before):
        status, rows, code, message, position = fast.copy_out(
            path, conn.pgconn_ptr, sql.encode(), fd, chunk, written
        )
        if status != PGRES_COMMAND_OK:
            raise pgerrors.CopyFailed(code, message, position)
    return rows


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
