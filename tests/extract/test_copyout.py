"""The extract's COPY loop (extract.copyout): rows written in chunks by the C loop on
psycopg2's own libpq connection, or by copy_expert without it, give the same bytes, report
each write, and stop when told to."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mmeops.errors import MmeopsError, UserError
from mmeops.extract import copyout, warehouse
from mmeops.extract.read import native

# Values COPY quotes (a comma, a quote, line breaks), non-ASCII text, NULL against an empty
# string, and one value longer than the smaller chunks below (a row longer than a chunk is
# written on its own).
VALUES = ["comma, inside", 'a "quoted" word', "two\nlines", "crlf\r\nend", "ünïcødé ✓ 日本",
          "", None, "x" * 5000] * 40  # fmt: skip
QUERY = warehouse.Query(
    Path("q.sql"),
    "SELECT v, n, n * 0.5 AS half\nFROM unnest(%(values)s::text[]) WITH ORDINALITY AS t(v, n)",
    {"values": VALUES},
)


def copied(tmp_path: Path, pure: str, chunk: int, monkeypatch) -> tuple[int, bytes, list[int]]:
    """Rows, the file's bytes and the totals `written` saw, through copy_to_fd."""
    monkeypatch.setenv("MMEOPS_PURE_PYTHON", pure)
    totals: list[int] = []
    path = tmp_path / f"{pure}-{chunk}.csv"
    with warehouse.connect(os.environ["MMEOPS_WAREHOUSE_DSN"], 30) as conn, open(path, "wb") as f:
        rows = copyout.copy_to_fd(conn, QUERY, f.fileno(), totals.append, chunk=chunk)
    return rows, path.read_bytes(), totals


def test_the_c_loop_is_what_runs_here():
    """Without it the extract silently takes psycopg2's loop, 2.3 s of CPU slower at 2M rows
    (docs/performance.md): a build or a lookup that stops working must fail here."""
    if not sys.platform.startswith("linux"):
        pytest.skip("libpq is found through /proc/self/maps")
    assert native() is not None and hasattr(native(), "copy_out")
    assert copyout.libpq_path() is not None  # psycopg2's libpq, and only one


@pytest.mark.parametrize("chunk", [1, 4096, 1 << 20])
def test_both_loops_write_copy_expert_s_bytes_and_report_every_write(
    stack, tmp_path, monkeypatch, chunk
):
    with (
        warehouse.connect(os.environ["MMEOPS_WAREHOUSE_DSN"], 30) as conn,
        open(tmp_path / "expert.csv", "wb") as sink,
    ):
        assert warehouse.copy_csv(conn, QUERY, sink) == len(VALUES)
    expected = (tmp_path / "expert.csv").read_bytes()
    for pure in ("0", "1"):
        rows, data, totals = copied(tmp_path, pure, chunk, monkeypatch)
        assert (rows, data) == (len(VALUES), expected), pure
        assert totals[-1] == len(expected) and totals == sorted(set(totals)), pure
        # Each write is at most a chunk, or one longer row with what preceded it.
        steps = [b - a for a, b in zip([0, *totals], totals, strict=False)]
        assert max(steps) <= chunk + 2 * 5100, pure
        if chunk == 1 << 20:
            assert len(totals) == 1, pure  # 1 MB of rows is one write


@pytest.mark.parametrize("pure", ["0", "1"], ids=["c", "python"])
def test_raising_in_written_stops_the_copy(stack, tmp_path, monkeypatch, pure):
    monkeypatch.setenv("MMEOPS_PURE_PYTHON", pure)
    totals: list[int] = []

    def written(total: int) -> None:
        totals.append(total)
        if len(totals) == 2:
            raise MmeopsError("the split failed: no space left")

    with (
        warehouse.connect(os.environ["MMEOPS_WAREHOUSE_DSN"], 30) as conn,
        open(tmp_path / "raw.csv", "wb") as f,
        pytest.raises(MmeopsError, match="the split failed"),
    ):
        copyout.copy_to_fd(conn, QUERY, f.fileno(), written, chunk=4096)
    assert len(totals) == 2
    assert (tmp_path / "raw.csv").stat().st_size == totals[-1]  # nothing after the stop


def test_an_error_mid_copy_reads_the_same_through_both_loops(stack, tmp_path, monkeypatch):
    """Row 300 divides by zero after rows were written: the server's SQLSTATE and message
    come back through either loop as the same one-line error on the query file."""
    query = warehouse.Query(
        Path("q.sql"),
        "SELECT n,\n  1 / (300 - n) AS x\nFROM generate_series(1, 100000) AS n",
        {},
    )
    errors = []
    for pure, binary in (("0", False), ("0", True), ("1", False)):  # C text, C binary, Python
        monkeypatch.setenv("MMEOPS_PURE_PYTHON", pure)
        with (
            warehouse.connect(os.environ["MMEOPS_WAREHOUSE_DSN"], 30) as conn,
            open(tmp_path / "raw.csv", "wb") as f,
            pytest.raises(UserError) as raised,
        ):
            columns = warehouse.describe(conn, query) if binary else None
            assert not binary or copyout.binary_plan(conn, columns) is not None
            copyout.copy_to_fd(conn, query, f.fileno(), lambda _: None, chunk=64, columns=columns)
        assert (tmp_path / "raw.csv").stat().st_size > 0  # rows before the error were written
        errors.append(str(raised.value))
    assert "division by zero" in errors[0] and "SQLSTATE 22012" in errors[0]
    assert errors[0] == errors[1] == errors[2]
