"""The C COPY loop's binary mode (extract.copyout.binary_plan, _fastsplit.c binary_rows): the
server sends float8, booleans and integers as bytes (COPY ... (FORMAT binary)), casts the
other plain types to text, and the loop writes exactly the bytes text COPY (FORMAT csv,
HEADER) writes, so raw.csv, every checksum and the split are unchanged (issue 28).

The binary format read here is PostgreSQL's (docs, "COPY", File Formats, Binary Format:
https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4): an 11-byte
signature `PGCOPY\\n\\377\\r\\n\\0`, a 32-bit flags field, a 32-bit header extension length;
per tuple a 16-bit field count, per field a 32-bit length (-1 for NULL) and the value in the
type's binary send format (network byte order); a 16-bit -1 ends the data. Each test below
compares the C loop's file with what the server's own text COPY wrote through psycopg2's
copy_expert (warehouse.copy_csv), on the test cluster.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from helpers import warehouse_sql
from mmeops.extract import copyout, warehouse
from mmeops.extract.read import native

if not sys.platform.startswith("linux") or native() is None:
    pytest.skip("the C COPY loop runs on Linux with the extension built", allow_module_level=True)

# Every plain type (warehouse.PLAIN_TYPES), NULL in each column in turn, and the values whose
# text is hardest to get right: float8's special values, signed zero, subnormals, the
# extremes, the switch between fixed and exponent notation (1e-05 / 0.0001, 1e+15 /
# 100000000000000), integer extremes, infinite and BC dates, a timestamptz across a DST change
# and before 1883 (a local mean time offset with seconds) in a non-UTC session TimeZone.
TABLE = """
DROP SCHEMA IF EXISTS bincopy CASCADE;
CREATE SCHEMA bincopy;
CREATE TABLE bincopy.every (d float8, r float4, n numeric, h int2, i int4, l int8, b boolean,
    dt date, tm time, ts timestamp, tz timestamptz, o oid);
INSERT INTO bincopy.every (d) SELECT x::float8 FROM unnest(ARRAY['NaN', 'Infinity',
    '-Infinity', '-0', '0', '5e-324', '2.2250738585072014e-308', '2.2250738585072009e-308',
    '1.7976931348623157e308', '1e15', '999999999999999.9', '1e-5', '0.0001', '9.999e-5',
    '123456789012345.6', '1e22', '1e23', '3', '-17', '0.1', '0.3', '5e-7', '1e100',
    '9007199254740993', '-1.5e-300', '4.35', '2.5']) x;
INSERT INTO bincopy.every (d) SELECT 1.0 / 3 * 10 ^ g FROM generate_series(-30, 30) g;
INSERT INTO bincopy.every (r, n, h, i, l, b, dt, tm, ts, tz, o) VALUES
    ('NaN', 'NaN', -32768, -2147483648, -9223372036854775808, true, 'infinity', '24:00',
     'infinity', '-infinity', 4294967295),
    ('Infinity', '-0.000000000000000000001', 32767, 2147483647, 9223372036854775807, false,
     '-infinity', '00:00', '-infinity', 'infinity', 0),
    ('-Infinity', '123456789012345678901234567890.123456789', 0, 0, 0, true, '0044-03-15 BC',
     '23:59:59.999999', '0044-03-15 12:00 BC', '1850-06-01 12:00+00', 1),
    ('1e-45', '1e-20', -1, -1, -1, false, '2024-02-29', '12:00:00.5', '2024-03-10 02:30',
     '2024-03-10 06:59:59.999+00', 7),
    ('3.4028235e38', '0', 1, 1, 1, true, '9999-12-31', '01:02:03', '1999-12-31 23:59:59.5',
     '2024-03-10 07:00:00.000001+00', 8);
INSERT INTO bincopy.every SELECT
    CASE WHEN g % 17 = 0 THEN NULL ELSE sin(g) * 10 ^ (g % 41 - 20) END,
    CASE WHEN g % 17 = 1 THEN NULL ELSE (cos(g) * 10 ^ (g % 13 - 6))::float4 END,
    CASE WHEN g % 17 = 2 THEN NULL ELSE round((sin(g) * 10 ^ (g % 12))::numeric, g % 7) END,
    CASE WHEN g % 17 = 3 THEN NULL ELSE (g * 37 % 65536 - 32768)::int2 END,
    CASE WHEN g % 17 = 4 THEN NULL ELSE (g::int8 * 104729 % 4294967296 - 2147483648)::int4 END,
    CASE WHEN g % 17 = 5 THEN NULL ELSE g::int8 * 1000000007 * (g % 3 - 1) END,
    CASE WHEN g % 17 = 6 THEN NULL ELSE g % 3 = 0 END,
    CASE WHEN g % 17 = 7 THEN NULL ELSE date '1970-01-01' + g * 7 END,
    CASE WHEN g % 17 = 8 THEN NULL ELSE time '00:00' + g * interval '1.234567 seconds' END,
    CASE WHEN g % 17 = 9 THEN NULL
         ELSE timestamp '1999-12-31 23:00' + g * interval '17 minutes 1.5 seconds' END,
    CASE WHEN g % 17 = 10 THEN NULL
         ELSE timestamptz '2024-03-09 00:00+00' + g * interval '13 minutes 0.25 seconds' END,
    CASE WHEN g % 17 = 11 THEN NULL ELSE g::oid END
FROM generate_series(1, 3000) g;
"""
EVERY = "SELECT d, r, n, h, i, l, b, dt, tm, ts, tz, o FROM bincopy.every"
# What the C loop is told each column is: d float8, b boolean, h/i/l int2/4/8 as bytes, t text.
EVERY_KINDS = "dtthilbttttt"


@pytest.fixture(scope="module")
def every(stack) -> None:
    warehouse_sql(TABLE)


def both(
    tmp_path: Path,
    sql: str,
    session: str = "",
    order_by: str | None = None,
    chunk: int = copyout.CHUNK,
) -> tuple[tuple[bytes, int], tuple[bytes, int], tuple[bytes, str] | None, list[int]]:
    """(text COPY's bytes and rows, the C loop's with the columns given, its plan, its
    `written` totals): each on its own connection, `session` run first on both."""
    query, dsn = warehouse.Query(Path("q.sql"), sql, {}), os.environ["MMEOPS_WAREHOUSE_DSN"]
    text, binary = tmp_path / "text.csv", tmp_path / "binary.csv"
    totals: list[int] = []
    with warehouse.connect(dsn, 60) as conn, open(text, "wb") as sink:
        if session:
            conn.cursor().execute(session)
        text_rows = warehouse.copy_csv(conn, query, sink, order_by)
    with warehouse.connect(dsn, 60) as conn, open(binary, "wb") as f:
        if session:
            conn.cursor().execute(session)
        columns = warehouse.describe(conn, query)
        plan = copyout.binary_plan(conn, columns)
        rows = copyout.copy_to_fd(conn, query, f.fileno(), totals.append, order_by, chunk, columns)
    return (text.read_bytes(), text_rows), (binary.read_bytes(), rows), plan, totals


def same(a: tuple[bytes, int], b: tuple[bytes, int]) -> str:
    """ "" when the two (file, rows) are equal, else the first line that differs (pytest's
    own diff of megabytes takes minutes)."""
    if a == b:
        return ""
    for n, (x, y) in enumerate(zip(a[0].split(b"\n"), b[0].split(b"\n"), strict=False)):
        if x != y:
            return f"line {n + 1}: {x!r} != {y!r}"
    return f"rows {a[1]} != {b[1]}, bytes {len(a[0])} != {len(b[0])}"


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_every_plain_type_reads_as_text_copy_wrote_it(every, tmp_path, chunk):
    text, binary, plan, totals = both(
        tmp_path, EVERY, "SET TimeZone = 'America/New_York'", chunk=chunk
    )
    assert plan == (b"d,r,n,h,i,l,b,dt,tm,ts,tz,o\n", EVERY_KINDS)  # the binary loop ran
    assert not same(binary, text) and text[1] == 3093
    assert b",1850-06-01 07:03:58-04:56:02," in text[0]  # New York's local mean time
    assert b"\n-0,,,,,,,,,,,\n" in text[0] and b"\n,-" in text[0]  # -0; NULLs, first and last
    assert totals[-1] == len(text[0]) and totals == sorted(set(totals))
    steps = [b - a for a, b in zip([0, *totals], totals, strict=False)]
    assert max(steps) <= chunk


def test_a_time_split_s_order_and_the_benchmark_s_table_match_byte_for_byte(every, tmp_path):
    """The benchmark's layout (a timestamptz, ten random() doubles, a label) at 100,000 rows,
    sorted on the time column by extract (order_by), as the time split asks."""
    sql = (
        "SELECT timestamptz '2021-01-01' + g * interval '1 second' AS event_time, "
        + ", ".join(f"random() AS f{i}" for i in range(10))
        + ", (random() > 0.5)::int::float8 AS label FROM generate_series(100000, 1, -1) g"
    )
    warehouse_sql(f"DROP TABLE IF EXISTS bincopy.bench; CREATE TABLE bincopy.bench AS {sql}")
    text, binary, plan, _ = both(tmp_path, "SELECT * FROM bincopy.bench", order_by="event_time")
    assert plan is not None and plan[1] == "t" + "d" * 11
    assert not same(binary, text) and text[1] == 100000
    assert text[0].splitlines()[1].startswith(b"2021-01-01 00:00:01+00,")  # sorted by extract


# Names COPY's header quotes (a comma, a quote, CR, LF) and ones it does not (a space,
# non-ASCII, a backslash, a single quote).
NAMES = ["a,b", 'say "hi"', "two\nlines", "cr\rhere", " spaced ", "ünïcødé", "back\\slash", "it's"]


def test_the_header_quotes_names_as_copy_does(every, tmp_path):
    sql = "SELECT " + ", ".join(f'{i}.5::float8 AS "{n.replace(chr(34), 2 * chr(34))}"'
                                for i, n in enumerate(NAMES))  # fmt: skip
    text, binary, plan, _ = both(tmp_path, sql)
    assert plan is not None and not same(binary, text)
    assert text[0].startswith(b'"a,b","say ""hi""","two\nlines","cr\rhere", spaced ,')


def test_a_lone_column_named_backslash_dot_is_quoted_as_copy_quotes_it(every, tmp_path):
    """`\\.` alone on a line ends COPY's data, so COPY quotes it in a one-column header."""
    text, binary, plan, _ = both(tmp_path, 'SELECT 1::int4 AS "\\."')
    assert plan is not None and not same(binary, text) and text[0] == b'"\\."\n1\n'


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT d, 'a, b'::text AS t FROM bincopy.every",  # text: COPY may quote it
        "SELECT d, d AS d FROM bincopy.every",  # duplicate names: cannot select by name
        "SELECT d, interval '1 day' AS i FROM bincopy.every",  # not a plain type
    ],
    ids=["text", "duplicate-names", "interval"],
)
def test_what_binary_cannot_write_exactly_goes_through_text_copy(every, tmp_path, sql):
    text, binary, plan, _ = both(tmp_path, sql)
    assert plan is None and not same(binary, text)


def test_without_shortest_float_text_the_server_formats_doubles(every, tmp_path):
    """extra_float_digits 0 rounds to 15 digits (PostgreSQL's float8out): only the server
    knows that text, so text COPY runs, and the file says 0.333333333333333."""
    text, binary, plan, _ = both(tmp_path, EVERY, "SET extra_float_digits = 0")
    assert plan is None and not same(binary, text) and b"\n0.333333333333333," in text[0]


def test_a_column_without_doubles_needs_no_float_setting(every, tmp_path):
    text, binary, plan, _ = both(
        tmp_path, "SELECT h, b, tz FROM bincopy.every", "SET extra_float_digits = 0"
    )
    assert plan == (b"h,b,tz\n", "hbt") and not same(binary, text)


def test_the_mutations_this_file_catches(every, tmp_path, monkeypatch):
    """A test of the tests: with boolean cast to text on the server (it says `true`, COPY
    says `t`) the first test's comparison fails."""
    monkeypatch.setattr(copyout, "SENT", {k: v for k, v in copyout.SENT.items() if k != 16})
    text, binary, plan, _ = both(tmp_path, "SELECT d, b FROM bincopy.every")
    assert plan == (b"d,b\n", "dt")
    assert same(binary, text) and b",true\n" in binary[0] and b",t\n" in text[0]
