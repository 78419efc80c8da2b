"""The split's loops, in C and in Python: the same training files, byte for byte,
for every column layout, however COPY's stream is cut into blocks.

The whole extract (real PostgreSQL, embedded S3) is in test_extract.py; this file feeds the
split the bytes COPY writes, so it can try layouts and cuts the warehouse tests cannot reach
quickly.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mmeops.extract import read as extract_read
from mmeops.extract import split as extract_split

LAYOUTS = {
    # name: (columns, target, features)
    "time first, target last": (12, 11, list(range(1, 11))),
    "target last": (6, 5, [0, 1, 2, 3, 4]),
    "target first": (5, 0, [1, 2, 3, 4]),
    "target in the middle": (5, 2, [0, 1, 3, 4]),
    "time in the middle": (5, 4, [0, 1, 3]),
}


def records(columns: int, rows: int, seed: int) -> list[list[str]]:
    """Values as COPY writes numbers: PostgreSQL's text, NULL as an empty field."""
    rnd = random.Random(seed)
    values = ["0", "-0", "1e-300", "0.30000000000000004", "-12345678901234567", "5e-324", ""]
    return [
        [rnd.choice(values) if rnd.random() < 0.2 else repr(rnd.uniform(-1e6, 1e6))
         for _ in range(columns)]
        for _ in range(rows)
    ]  # fmt: skip


def as_csv(rows: list[list[str]]) -> bytes:
    """COPY's CSV with a header."""
    header = ",".join(f"c{i}" for i in range(len(rows[0])))
    return (header + "\n" + "".join(",".join(r) + "\n" for r in rows)).encode()


class Blocks(io.RawIOBase):
    """Blocks of bytes as a readable stream, each read returning at most one block."""

    def __init__(self, blocks: list[bytes]):
        self.blocks, self.rest = iter(blocks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.rest:
            self.rest = next(self.blocks, b"")
        n = min(len(buffer), len(self.rest))
        buffer[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n


def cut(data: bytes, seed: int) -> list[bytes]:
    """The stream in blocks of uneven sizes, as the split reads a file still being written."""
    rnd, blocks, at = random.Random(seed), [], 0
    while at < len(data):
        size = rnd.choice([1, 7, 100, 4096, 65536])
        blocks.append(data[at : at + size])
        at += size
    return blocks


def split(tmp: Path, blocks: list[bytes], spec: dict, pure: bool, monkeypatch) -> dict:
    """Run the split; return its figures and the files' bytes."""
    out = tmp / ("python" if pure else "c")
    out.mkdir()
    with monkeypatch.context() as m:
        if pure:
            m.setenv("MMEOPS_PURE_PYTHON", "1")
        else:
            m.delenv("MMEOPS_PURE_PYTHON", raising=False)
        result = extract_split.run({**spec, "out_dir": str(out)}, Blocks(blocks))
    files = {s: (out / f"{s}.csv").read_bytes() for s in extract_split.SPLITS}
    return {"result": result, "files": files}


def test_the_c_loops_are_built_here():
    # A failed build is not an install error (setup.py marks the extension optional), so
    # this is where it shows: without it an extract takes about twice as long.
    assert extract_read.native() is not None, (
        "mmeops.extract._fastsplit was not built: install a C compiler and Python's headers "
        "(e.g. gcc and python3-dev), then `pip install -e .` again"
    )


@pytest.mark.parametrize("mode", ["time", "random"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_c_and_python_write_the_same_files_and_the_right_rows(tmp_path, monkeypatch, layout, mode):
    columns, target, features = LAYOUTS[layout]
    rows = records(columns, 2503, seed=len(layout))
    data = as_csv(rows)
    spec = {"plain": True, "ncols": columns, "target": target, "features": features,
            "mode": mode, "validation": 0.15, "test": 0.2, "seed": 11}  # fmt: skip
    blocks = cut(data, seed=3)
    c = split(tmp_path, blocks, spec, pure=False, monkeypatch=monkeypatch)
    py = split(tmp_path, blocks, spec, pure=True, monkeypatch=monkeypatch)
    assert c == py

    # A NULL feature is written `nan`: the SageMaker container refuses an empty field in a
    # training CSV (extract.split.missing_as_nan); a NULL target stays empty (it is refused).
    expected = [",".join([r[target], *(r[i] or "nan" for i in features)]) for r in rows]
    assert any(r[i] == "" for r in rows for i in features)
    lines = {s: c["files"][s].decode().splitlines() for s in extract_split.SPLITS}
    if mode == "time":  # in query order, the newest rows held out
        assert lines["train"] + lines["validation"] + lines["test"] == expected
    else:
        assert sorted(lines["train"] + lines["validation"] + lines["test"]) == sorted(expected)
    sizes = {s: len(lines[s]) for s in extract_split.SPLITS}
    assert sizes == {"train": 1627, "validation": 375, "test": 501}
    result = c["result"]
    assert result["missing_targets"] == sum(r[target] == "" for r in rows) > 0
    for s in extract_split.SPLITS:
        figures = result["files"][s]
        assert figures["rows"] == sizes[s]
        assert figures["bytes"] == len(c["files"][s])
        assert figures["sha256"] == hashlib.sha256(c["files"][s]).hexdigest()


@pytest.mark.parametrize("pure", [False, True], ids=["c", "python"])
def test_a_last_line_without_a_line_break_is_kept(tmp_path, monkeypatch, pure):
    spec = {"plain": True, "ncols": 3, "target": 2, "features": [0, 1], "mode": "time",
            "validation": 0.25, "test": 0.25, "seed": 1}  # fmt: skip
    blocks = [b"a,b,y\n1,2,3\n4,5,6\n7,8", b",9\n10,11,12"]
    got = split(tmp_path, blocks, spec, pure, monkeypatch)
    assert got["files"] == {"train": b"3,1,2\n6,4,5\n", "validation": b"9,7,8\n",
                            "test": b"12,10,11\n"}  # fmt: skip


def test_following_raw_csv_reports_its_figures_and_the_splits(tmp_path):
    """How the COPY loop's thread pair works: the split follows raw.csv as it is written (a
    byte on the notify pipe per write, the pipe closed at the end) and hashes it there."""
    raw = as_csv(records(4, 300, seed=5))
    spec = {"out_dir": str(tmp_path), "raw": str(tmp_path / "raw.csv"), "plain": True,
            "ncols": 4, "target": 3, "features": [0, 1, 2], "mode": "random",
            "validation": 0.1, "test": 0.1, "seed": 2}  # fmt: skip
    notify_r, notify_w = os.pipe()
    with ThreadPoolExecutor(1) as pool, open(tmp_path / "raw.csv", "wb", buffering=0) as f:
        result = pool.submit(extract_split.follow, spec, notify_r, threading.Event())
        for block in cut(raw, seed=6):
            f.write(block)
            os.write(notify_w, b"\0")
        os.close(notify_w)
        figures = result.result(timeout=60)
    os.close(notify_r)
    assert figures["raw"] == {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    assert {s: f["rows"] for s, f in figures["files"].items()} == {
        "train": 240, "validation": 30, "test": 30}  # fmt: skip


def test_lines_longer_than_the_read_buffer(tmp_path, monkeypatch):
    # Real rows are far shorter than the 2 MB buffer; a tiny one makes every line outgrow it.
    monkeypatch.setattr(extract_read, "READ_SIZE", 16)
    columns, target, features = LAYOUTS["time first, target last"]
    rows = records(columns, 200, seed=9)
    spec = {"plain": True, "ncols": columns, "target": target, "features": features,
            "mode": "random", "validation": 0.1, "test": 0.1, "seed": 4}  # fmt: skip
    blocks = cut(as_csv(rows), seed=8)
    c = split(tmp_path, blocks, spec, pure=False, monkeypatch=monkeypatch)
    assert c == split(tmp_path, blocks, spec, pure=True, monkeypatch=monkeypatch)
    assert sum(f["rows"] for f in c["result"]["files"].values()) == 200


@pytest.mark.parametrize(
    ("value", "binary", "odd"),
    [
        ("Infinity", False, True),
        ("-Infinity", False, True),
        ("NaN", False, True),
        ("1e+30", False, True),
        ("1e-300", False, False),
        ("-12345678901234567", False, False),
        # a numeric prints every digit: 39 in a row may be beyond float32's 3.4e38
        ("1" + "0" * 37, False, False),
        ("34" + "0" * 37, False, True),
        ("-1" + "0" * 40, False, True),
        ("0." + "0" * 38 + "1", False, True),  # harmless: the warehouse says so (test_values)
        ("", False, False),  # NULL: written nan, which is not odd
        ("2", True, True),  # as the label of a binary model
        ("1.0", True, True),
        ("1", True, False),
    ],
)
@pytest.mark.parametrize("pure", [False, True], ids=["c", "python"])
def test_the_odd_value_flag_is_scan_odd_on_copys_text(
    tmp_path, monkeypatch, value, binary, odd, pure
):
    """The C loop looks for odd text in its output (after `nan` is written), the Python
    loops in COPY's text: the same answer for every text PostgreSQL prints for a number."""
    where = 0 if binary else 2  # the label (column 0), or a feature
    rows = [["0", "0.5", "1e-5"] for _ in range(40)]
    rows[17][where] = value
    spec = {"plain": True, "ncols": 3, "target": 0, "features": [1, 2], "mode": "time",
            "validation": 0.2, "test": 0.2, "seed": 1, "binary": binary}  # fmt: skip
    got = split(tmp_path, cut(as_csv(rows), seed=2), spec, pure, monkeypatch)
    assert got["result"]["odd_values"] is odd


@pytest.mark.parametrize("row", [17, 39], ids=["middle", "last"])
def test_a_long_run_of_digits_is_odd_wherever_it_falls(tmp_path, monkeypatch, row):
    """The C loop looks for 39 digits in a row 16 bytes at a time, then in the bytes left:
    a padding field of 1 to 33 bytes puts the run at every offset in a block, and the last
    row puts it in the bytes left; 38 digits are never odd."""
    spec = {"plain": True, "ncols": 3, "target": 0, "features": [1, 2], "mode": "time",
            "validation": 0.2, "test": 0.2, "seed": 1, "binary": False}  # fmt: skip
    for pad in range(1, 34):
        for digits, odd in ((38, False), (39, True)):
            rows = [["0", "0.5", "1e-5"] for _ in range(40)]
            rows[row][1:] = ["1" * pad, "9" * digits]
            tmp = tmp_path / f"{pad}-{digits}"
            tmp.mkdir()
            got = split(tmp, cut(as_csv(rows), seed=2), spec, False, monkeypatch)
            assert got["result"]["odd_values"] is odd, (pad, digits)


@pytest.mark.parametrize(
    ("validation", "test"), [(0.1, 0.1), (0.3, 0.45), (0.01, 0.01), (0.45, 0.45)]
)
def test_the_time_splits_train_hash_that_runs_ahead_is_the_train_files(
    tmp_path, monkeypatch, validation, test
):
    """TimeSplit hashes the rows that are train whatever the final count while they stream
    in (many small writes here), and the rest at the end: the figure is the file's."""
    rows = records(4, 997, seed=12)
    spec = {"plain": True, "ncols": 4, "target": 3, "features": [0, 1, 2], "mode": "time",
            "validation": validation, "test": test, "seed": 1}  # fmt: skip
    got = split(tmp_path, cut(as_csv(rows), seed=13), spec, False, monkeypatch)
    for s in extract_split.SPLITS:
        assert got["result"]["files"][s]["sha256"] == hashlib.sha256(got["files"][s]).hexdigest()
    assert got["result"]["files"]["train"]["rows"] == 997 - round(997 * validation) - round(
        997 * test
    )


@pytest.mark.parametrize("read_size", [4096, 5000])
def test_the_time_splits_tail_copies_and_hashes_in_many_reads(tmp_path, monkeypatch, read_size):
    """The tail reads validation and test back in READ_SIZE pieces, writing and hashing each
    (1 MB in production; small here, so a few thousand rows take many reads, the last one
    short): the files are the rows, and the figures the files'."""
    monkeypatch.setattr(extract_split, "READ_SIZE", read_size)
    rows = records(4, 3001, seed=21)
    spec = {"plain": True, "ncols": 4, "target": 3, "features": [0, 1, 2], "mode": "time",
            "validation": 0.2, "test": 0.15, "seed": 1}  # fmt: skip
    got = split(tmp_path, cut(as_csv(rows), seed=22), spec, False, monkeypatch)
    lines = b"".join(got["files"][s] for s in extract_split.SPLITS).splitlines()
    assert lines == [",".join([r[3], *(v or "nan" for v in r[:3])]).encode() for r in rows]
    assert len(got["files"]["test"]) > 4 * read_size  # many reads
    assert got["files"]["test"].count(b"\n") == round(3001 * 0.15)
    for s in extract_split.SPLITS:
        assert got["result"]["files"][s]["sha256"] == hashlib.sha256(got["files"][s]).hexdigest()
        assert got["result"]["files"][s]["bytes"] == len(got["files"][s])


def test_the_c_field_scan_cuts_lines_as_split_does_at_every_offset():
    """reorder's scan finds commas and line breaks 16 bytes at a time, then byte by byte
    near the end of its input: fields of 0 to 40 bytes put them at every position in a
    block and across blocks, and every cut of the input leaves a partial last line."""
    fast = extract_read.native()
    rnd = random.Random(7)
    ncols, order = 5, [4, 0, 1, 2, 3]
    lines = [b",".join(b"1" * rnd.randrange(41) for _ in range(ncols)) for _ in range(300)]
    data = b"\n".join(lines) + b"\n"
    for cut in [len(data), *rnd.sample(range(len(data)), 40)]:
        out = bytearray(4 * len(data))
        consumed, written, rows, missing, _ = fast.reorder(data[:cut], ncols, order, out, False)
        whole = data[:cut].count(b"\n")
        assert (consumed, rows) == (data[:cut].rfind(b"\n") + 1, whole)
        expected = []
        for line in lines[:whole]:
            fields = line.split(b",")
            picked = [fields[order[0]]] + [fields[k] or b"nan" for k in order[1:]]
            expected.append(b",".join(picked) + b"\n")
        assert bytes(out[:written]) == b"".join(expected)
        assert missing == sum(1 for line in lines[:whole] if not line.split(b",")[order[0]])
    with pytest.raises(ValueError, match="line 2 has 6 fields, expected 5"):
        fast.reorder(b"1,2,3,4,5\n1,2,3,4,5,6\n", ncols, order, bytearray(100), False)
