"""PostgreSQL's text for a double, written in C (extract/_float8.h, for the binary COPY loop
that formats float8 columns itself), byte for byte against the server as the oracle.

The rule, from PostgreSQL's documentation of `extra_float_digits` (Floating-Point Types,
https://www.postgresql.org/docs/current/datatype-numeric.html#DATATYPE-FLOAT): "By default,
floating point values are output in text form in their shortest precise decimal
representation; the decimal value produced is closer to the true stored binary value than to
any other value representable in the same binary precision. (However, the output value is
currently never exactly midway between two representable values, in order to avoid a
widespread bug where input routines do not properly respect the round-to-even rule.)" (any
value > 0, the default 1; the extract's connection sets 1, warehouse.connect). The layout
(where plain digits give way to `1e+15` and `1e-05`) is the server's, read off here.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmeops.extract import warehouse
from mmeops.extract.read import native

HEADER = Path(warehouse.__file__).with_name("_float8.h")
TABLES = HEADER.with_name("_float8_tables.h")
CHUNK = 250_000  # values per query: one array literal of a few MB

# Hard cases named in the brief and the docs, with both signs below.
NAMED = [0.1, 0.3, 1 / 3, 2 / 3, 100.0, 1e22, 1e23, 123456789012345678.0, 5e-324,
         sys.float_info.max, sys.float_info.min, np.nextafter(sys.float_info.min, 0),
         0.0, 1.0, 2.5, 9007199254740993.0, 0.1 + 0.2, 1e15 - 0.5, 1e-4, 1e-5, 1e14, 1e15,
         1e16, 999999999999999.9, 9.999999999999999e-5]  # fmt: skip


def ulps(x: np.ndarray, k: int) -> np.ndarray:
    """x and its k neighbours on each side."""
    out, up, down = [x], x, x
    for _ in range(k):
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        out += [up, down]
    return np.concatenate(out)


def short_decimals(rng: np.random.Generator, count: int, exponents: range) -> np.ndarray:
    """Values typed with few digits (n * 10^e, n < 10^4): the shortest text is the typed one."""
    n = rng.integers(1, 10_000, count)
    e = rng.integers(exponents.start, exponents.stop, count)
    return np.array([float(f"{a}e{b}") for a, b in zip(n.tolist(), e.tolist(), strict=True)])


def values(seed: int, random_bits: int) -> np.ndarray:
    """About random_bits + 550,000 doubles of every kind that is hard to print, both signs."""
    rng = np.random.default_rng(seed)
    parts = [
        # Random bit patterns: every exponent, subnormals, NaN payloads, both signs.
        rng.bit_generator.random_raw(random_bits).view(np.float64),
        # random() in [0, 1): 53 random bits, and the 52 of PostgreSQL's pg_prng_double.
        rng.random(100_000),
        (rng.bit_generator.random_raw(100_000) >> np.uint64(12)) * 2.0**-52,
        # Integers about 2^53, where doubles stop holding every integer.
        np.arange(2**53 - 20_000, 2**53 + 20_000, dtype=np.int64).astype(np.float64),
        # Powers of 10 and 2 and their neighbours; integers above 2^53 (exact ties live there).
        ulps(np.array([float(f"1e{k}") for k in range(-323, 309)]), 3),
        ulps(np.ldexp(1.0, np.arange(-1074, 1024)), 3),
        (rng.integers(1, 2**20, 50_000) * 2.0 ** rng.integers(53, 80, 50_000)),
        # The layout's boundaries: decimal exponents -6..-2 and 13..17, any digits or few.
        rng.uniform(1, 10, 60_000) * 10.0 ** rng.integers(-6, -1, 60_000),
        rng.uniform(1, 10, 60_000) * 10.0 ** rng.integers(13, 18, 60_000),
        short_decimals(rng, 40_000, range(-7, -1)),
        short_decimals(rng, 40_000, range(12, 18)),
        short_decimals(rng, 40_000, range(-330, 310)),
        np.array(NAMED),
    ]
    finite = np.concatenate(parts[1:])
    signs = np.where(rng.random(finite.size) < 0.5, -1.0, 1.0)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, -5e-324, -sys.float_info.max])
    return np.concatenate([parts[0], finite * signs, np.array(NAMED), special])


def server_text(conn, chunk: np.ndarray) -> list[bytes]:
    """The server's `::text` of each value, in order. Sent as shortest-repr text, which reads
    back as the same double (Python's repr round-trips)."""
    literal = "{" + ",".join(map(repr, chunk.tolist())) + "}"
    with conn.cursor() as cur:
        sql = cur.mogrify(
            "COPY (SELECT x::text FROM unnest(%s::float8[]) WITH ORDINALITY AS t(x, i)"
            " ORDER BY i) TO STDOUT",
            (literal,),
        )
        sink = io.BytesIO()
        cur.copy_expert(sql.decode(), sink)
    return sink.getvalue().split(b"\n")[:-1]


def mismatches(conn, xs: np.ndarray, ours) -> list[tuple[float, bytes, bytes]]:
    """(value, server, ours) for every value where the texts differ."""
    found = []
    for start in range(0, xs.size, CHUNK):
        chunk = xs[start : start + CHUNK]
        theirs, mine = server_text(conn, chunk), ours(chunk)
        assert len(theirs) == len(mine) == chunk.size
        if theirs != mine:
            rows = zip(chunk.tolist(), theirs, mine, strict=True)
            found += [(x, t, m) for x, t, m in rows if t != m]
    return found


def extension(chunk: np.ndarray) -> list[bytes]:
    text = native().float8_text
    return [text(x) for x in chunk.tolist()]


@pytest.fixture(scope="module")
def conn(stack):
    if native() is None or not hasattr(native(), "float8_text"):
        pytest.fail("the C extension is not built: .venv/bin/python setup.py build_ext --inplace")
    with warehouse.connect(os.environ["MMEOPS_WAREHOUSE_DSN"], 120) as c:
        yield c


@pytest.fixture(scope="module")
def doubles() -> np.ndarray:
    return values(seed=28, random_bits=460_000)


def test_a_million_doubles_print_as_the_server_prints_them(conn, doubles):
    assert doubles.size >= 1_000_000
    assert mismatches(conn, doubles, extension)[:5] == []


@pytest.mark.slow
def test_twenty_million_doubles_print_as_the_server_prints_them(conn):
    for seed in range(20):
        bad = mismatches(conn, values(seed=1000 + seed, random_bits=460_000), extension)
        assert bad[:5] == [], seed


def test_the_layout_boundaries_are_the_server_s(conn):
    """Plain digits from 1e-4 up to below 1e15, exponents outside (read off the server)."""
    xs = np.array([1e-5, 9.99e-5, 1e-4, 1.5e-4, 1e14, 999999999999999.9, 1e15, 1.5e15])
    assert server_text(conn, xs) == extension(xs) == [
        b"1e-05", b"9.99e-05", b"0.0001", b"0.00015", b"100000000000000",
        b"999999999999999.9", b"1e+15", b"1.5e+15"]  # fmt: skip


def test_a_text_exactly_midway_between_two_doubles_is_never_printed(conn):
    """The documented exception: 1e23 and 3.378593141689455e+16 read back as these doubles
    (Python's repr prints them), but each lies exactly midway to the next double."""
    xs = np.array([1e23, 33785931416894552.0])
    assert [repr(x) for x in xs.tolist()] == ["1e+23", "3.378593141689455e+16"]
    assert server_text(conn, xs) == extension(xs) == [
        b"9.999999999999999e+22", b"3.3785931416894552e+16"]  # fmt: skip


# Tests of the test: the comparison above catches a wrong rounding choice, a printed midway
# text and a moved layout boundary. Each compiles _float8.h with one change into a small
# program fed the same values.
MUTATIONS = {
    # Round down where the last dropped digit is 5 or more (not the closest any more).
    "closest": ("round_up = vr % 10 >= 5;", "round_up = vr % 10 >= 6;"),
    # Exact ties: keep the digit whatever its parity (not the even one).
    "tie": ("last == 5 && vr % 2 == 0", "last == 5 && vr % 2 == 2"),
    # Accept the upper bound of a value of 1 or more (prints 1e+23).
    "midway": ("vp -= float8_multiple_of_pow5(mp, q);", "vp -= 0;"),
    # Plain digits up to 1e16 instead of 1e15.
    "boundary": ("if (e >= 0 && e < 15) {", "if (e >= 0 && e < 16) {"),
}

DRIVER = r"""
#include <stdio.h>
#include "_float8.h"
int main(void) {
    double v; char buf[FLOAT8_TEXT_MAX + 1];
    while (fread(&v, sizeof v, 1, stdin) == 1) {
        int n = float8_text(v, buf); buf[n] = '\n'; fwrite(buf, 1, n + 1, stdout);
    }
    return 0;
}
"""


def compiled(tmp_path: Path, old: str = "", new: str = "", flags: tuple[str, ...] = ()):
    """_float8.h with `old` replaced by `new`, built into a program that prints each double
    read from stdin; returns the function that runs it on an array."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    source = HEADER.read_text()
    assert source.count(old) == 1 or not old, old
    (tmp_path / "_float8.h").write_text(source.replace(old, new) if old else source)
    shutil.copy(TABLES, tmp_path / TABLES.name)
    (tmp_path / "driver.c").write_text(DRIVER)
    exe = tmp_path / "driver"
    subprocess.run(["cc", "-O1", *flags, "-o", str(exe), str(tmp_path / "driver.c")], check=True)

    def run(chunk: np.ndarray) -> list[bytes]:
        out = subprocess.run([str(exe)], input=chunk.tobytes(), capture_output=True, check=True)
        return out.stdout.split(b"\n")[:-1]

    return run


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_wrong_choice_or_boundary_is_caught(conn, doubles, tmp_path, name):
    mutant = compiled(tmp_path, *MUTATIONS[name])
    # A twentieth of the values is enough: each change alters a few to thousands of them
    # (about 75 for the tie, 80 for the midway text, 1e23 among them, 500 for the closest,
    # 3,000 for the boundary).
    assert len(mismatches(conn, np.concatenate([NAMED, doubles[::20]]), mutant)) > 0


def test_the_build_without_a_128_bit_integer_prints_the_same(conn, doubles, tmp_path):
    """The path for compilers without unsigned __int128 (64-bit halves)."""
    portable = compiled(tmp_path, flags=("-DFLOAT8_NO_INT128",))
    assert mismatches(conn, doubles[::20], portable)[:5] == []
