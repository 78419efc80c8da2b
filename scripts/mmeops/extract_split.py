"""The second half of an extract, run as a child process: COPY's CSV on stdin → the
train / validation / test files the SageMaker XGBoost container reads (label first, no
header, numeric features only).

Why a process of its own: the parent spends its time in psycopg2's COPY loop, which takes
the GIL for every row; splitting in a thread would fight it for the GIL, while a process
runs on the other core and keeps pace with the server. The column types were checked
beforehand, so every value is already a number in PostgreSQL's shortest exact text and is
copied, never re-formatted.

The per-row loops (reorder a line's fields; send each line to its split) are in C
(_fastsplit.c) when it was built: in Python they cost about 2 µs a row, which on a 2-core
runner made the split, not the server, the slowest part of an extract. Without the
extension, or with MMEOPS_PURE_PYTHON=1, the same operations run in Python; both produce the
same bytes (tests/test_extract_split.py).

    python -m mmeops.extract_split SPEC_JSON  < notify-pipe  > result.json

The child follows raw.csv as the parent writes it (a byte on the notify pipe per write, EOF
at the end) rather than receiving the bytes through a pipe: one copy of the data fewer,
which matters as much as CPU on a small runner.

Splits:
- random: exact sizes without knowing the row count up front. Rows go in blocks of
  BLOCK; block j gets round((j+1)·B·f) − round(j·B·f) held-out rows, placed by a seeded
  permutation, so totals equal round(N·f) and the same seed and rows give the same split.
- time: the query orders rows by time; the newest round(N·f_test) rows are the test set and
  the round(N·f_validation) before them the validation set. Rows are written in order to one
  file, which is cut at the two boundaries once N is known.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import compress
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

SPLITS = ("train", "validation", "test")
BLOCK = 1000
READ_SIZE = 1 << 20

Transform = Callable[[list[bytes]], list[bytes]]
Batch = tuple[bytes, int, int]  # complete output lines, their count, how many lack a target


def native() -> Any:
    """The C loops, or None: not built here, or turned off with MMEOPS_PURE_PYTHON=1."""
    if os.environ.get("MMEOPS_PURE_PYTHON") == "1":
        return None
    try:
        from . import _fastsplit
    except ImportError:
        return None
    return _fastsplit


def rounded(k: int, fraction: float) -> int:
    """round(k·fraction), halves up: the held-out count among the first k rows."""
    return math.floor(k * fraction + 0.5)


# --- reading records -------------------------------------------------------------------------


def follow(raw: io.RawIOBase, notify_fd: int) -> Iterator[bytes]:
    """The raw file's bytes as the parent writes them. The parent sends a byte on the notify
    pipe after each write and closes it at the end, so reading the file to its current end,
    then waiting on the pipe, never misses data and never polls."""
    finished = False
    while True:
        block = raw.read(READ_SIZE)
        if block:
            yield block
        elif finished:
            return
        elif not os.read(notify_fd, 1 << 16):
            finished = True  # the writer is done: read what is left, then stop


class _Blocks(io.RawIOBase):
    """An iterator of byte blocks as a readable stream (for the csv module)."""

    def __init__(self, blocks: Iterator[bytes]):
        self.blocks, self.rest = blocks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.rest:
            self.rest = next(self.blocks, b"")
        n = min(len(buffer), len(self.rest))
        buffer[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n


def plain_chunks(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The stream as runs of complete records, each ending in a line break, when no value
    can hold a comma, quote or line break: one record per line. The header (whose names the
    parent took from the query's description) is skipped."""
    rest, header = b"", True
    for block in blocks:
        data = rest + block
        cut = data.rfind(b"\n") + 1  # a partial record waits for the next block
        rest = data[cut:]
        begin = 0
        if header and cut:
            begin, header = data.index(b"\n") + 1, False
        if cut > begin:
            yield data[begin:cut]
    if rest and not header:
        yield rest + b"\n"


def csv_lines(blocks: Iterator[bytes], columns: list[int]) -> Iterator[Batch]:
    """Batches of output lines through the csv module, for results with quoted values (a
    text time column). The selected columns are numeric, so joining them needs no quoting."""
    stream = io.BufferedReader(_Blocks(blocks), READ_SIZE)
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
    next(reader, None)
    pick = itemgetter(*columns)  # target and at least one feature: always a tuple
    batch: list[bytes] = []
    for row in reader:
        batch.append(",".join(pick(row)).encode())
        if len(batch) == 20000:
            yield joined(batch)
            batch = []
    if batch:
        yield joined(batch)


def make_transform(ncols: int, target: int, features: list[int]) -> Transform:
    """Raw lines → output lines (target first, then the features), with the fewest
    operations per line the layout allows. The usual layouts (target last, an optional time
    column first; or target first) avoid splitting every field."""
    contiguous = features == list(range(features[0], features[-1] + 1))
    last = ncols - 1
    if contiguous and target == last and features[-1] == last - 1 and features[0] <= 1:
        # The walrus keeps it to one rindex per line: this loop is most of the CPU time.
        if features[0] == 0:
            return lambda lines: [
                line[(j := line.rindex(b",")) + 1 :] + b"," + line[:j] for line in lines
            ]
        return lambda lines: [
            line[(j := line.rindex(b",")) + 1 :] + b"," + line[line.index(b",") + 1 : j]
            for line in lines
        ]
    if contiguous and target == 0 and features[0] == 1 and features[-1] == last:
        return lambda lines: lines
    pick = itemgetter(target, *features)
    split = methodcaller("split", b",")
    return lambda lines: list(map(b",".join, map(pick, map(split, lines))))


def joined(lines: list[bytes]) -> Batch:
    """Output lines as one blob, with the count of lines whose first field (the target) is
    empty: NULL in the warehouse."""
    rows = len(lines)
    lines.append(b"")  # the last line's line break (cheaper than copying the blob)
    blob = b"\n".join(lines)
    return blob, rows, blob.count(b"\n,") + (blob[:1] == b",")


def reordered(
    chunks: Iterator[bytes], ncols: int, target: int, features: list[int]
) -> Iterator[Batch]:
    """Plain chunks → output lines (target first, then the features)."""
    fast = native()
    if fast:
        order = (target, *features)
        for chunk in chunks:
            yield fast.reorder(chunk, ncols, order)
        return
    transform = make_transform(ncols, target, features)
    for chunk in chunks:
        lines = chunk.split(b"\n")
        del lines[-1]  # after the last line break
        yield joined(transform(lines))


def routed(blob: bytes, labels: np.ndarray) -> tuple[list[bytes], bytes]:
    """The first len(labels) lines of `blob`, each to the split labels[i] names; and what is
    left of the blob."""
    fast = native()
    if fast:
        *parts, consumed = fast.route(blob, labels.tobytes())
        return parts, blob[consumed:]
    lines = blob.split(b"\n", len(labels))
    rest = lines.pop()
    picks = labels.tolist()
    parts = []
    for split in range(len(SPLITS)):
        chosen = list(compress(lines, [p == split for p in picks]))
        chosen.append(b"")
        parts.append(b"\n".join(chosen) if len(chosen) > 1 else b"")
    return parts, rest


# --- writing splits --------------------------------------------------------------------------


class Out:
    """One output file with its running sha256, byte and row counts."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 (closed in close())
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.rows = 0

    def write(self, blob: bytes, rows: int) -> None:
        self.file.write(blob)
        self.sha.update(blob)
        self.bytes += len(blob)
        self.rows += rows

    def close(self) -> dict:
        self.file.close()
        return {"rows": self.rows, "bytes": self.bytes, "sha256": self.sha.hexdigest()}


class RandomSplit:
    """Seeded, exact-size random split in blocks (see the module docstring)."""

    def __init__(self, out_dir: Path, validation: float, test: float, seed: int):
        import numpy as np  # here, not at the top: the time split needs no numpy (25 MB RSS)

        self.outs = [Out(out_dir / f"{s}.csv") for s in SPLITS]
        self.f_test, self.f_heldout = test, test + validation
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self.pending, self.pending_rows = b"", 0  # lines of a block not yet complete

    def add(self, blob: bytes, rows: int) -> None:
        self.pending += blob
        self.pending_rows += rows
        full = self.pending_rows // BLOCK
        if full:
            self._assign(full, BLOCK)

    def _assign(self, blocks: int, size: int) -> None:
        """Route the first blocks·size pending lines, `size` rows to a block."""
        labels = self._labels(blocks, size)
        parts, self.pending = routed(self.pending, labels)
        for split, (out, part) in enumerate(zip(self.outs, parts, strict=True)):
            out.write(part, int((labels == split).sum()))
        self.pending_rows -= len(labels)
        self.seen += len(labels)

    def _labels(self, blocks: int, size: int) -> np.ndarray:
        """Each line's split (0 train, 1 validation, 2 test) for `blocks` blocks of `size`."""
        import numpy as np

        starts = self.seen + size * np.arange(blocks)
        ends = starts + size
        n_test = _rounded(ends, self.f_test) - _rounded(starts, self.f_test)
        n_held = _rounded(ends, self.f_heldout) - _rounded(starts, self.f_heldout)
        n_test = np.minimum(n_test, n_held)  # only ever binds in a tiny last block
        slot = np.arange(size)
        by_rank = np.where(slot < n_test[:, None], 2, np.where(slot < n_held[:, None], 1, 0))
        order = self.rng.random((blocks, size)).argsort(axis=1)
        labels = np.empty((blocks, size), dtype=np.int8)
        np.put_along_axis(labels, order, by_rank.astype(np.int8), axis=1)
        return labels.ravel()

    def finish(self) -> dict:
        if self.pending_rows:
            self._assign(1, self.pending_rows)
        return {s: out.close() for s, out in zip(SPLITS, self.outs, strict=True)}


def copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """`count` bytes of file `src` from `offset` to the end of `dst`: in the kernel where it
    can (no trip through this process's memory), else by reading and writing."""
    try:
        while count:
            n = os.copy_file_range(src, dst, count, offset)
            if n == 0:
                raise OSError("the source file ended early")
            offset, count = offset + n, count - n
        return
    except (AttributeError, OSError):  # not Linux, or a file system that cannot
        pass
    os.lseek(src, offset, os.SEEK_SET)
    while count:
        chunk = os.read(src, min(count, READ_SIZE))
        if not chunk:
            raise OSError("the source file ended early")
        os.write(dst, chunk)
        count -= len(chunk)


def _rounded(k: np.ndarray, fraction: float) -> np.ndarray:
    import numpy as np

    return np.floor(k * fraction + 0.5).astype(np.int64)


class TimeSplit:
    """Rows in query order to one file; cut into train | validation | test at the end."""

    def __init__(self, out_dir: Path, validation: float, test: float):
        self.out_dir = out_dir
        self.f_val, self.f_test = validation, test
        self.path = out_dir / "ordered.part"
        self.file = open(self.path, "w+b")  # noqa: SIM115 (closed in finish())
        self.sha = hashlib.sha256()
        # (rows before, bytes before, sha256 state before) at every write: a cut point's
        # offset and the train file's hash come from the nearest one without a re-read.
        self.marks: list[tuple[int, int, object]] = []
        self.rows = self.bytes = 0

    def add(self, blob: bytes, rows: int) -> None:
        if not rows:
            return
        self.marks.append((self.rows, self.bytes, self.sha.copy()))
        self.rows += rows
        self.file.write(blob)
        self.sha.update(blob)
        self.bytes += len(blob)

    def _offset(self, row: int) -> tuple[int, object]:
        """Byte offset where `row` starts, and the sha256 of every byte before it."""
        if row >= self.rows:
            return self.bytes, self.sha.copy()
        i = max(k for k, (r, _, _) in enumerate(self.marks) if r <= row)
        rows_before, offset, sha = self.marks[i]
        end = self.marks[i + 1][1] if i + 1 < len(self.marks) else self.bytes
        self.file.seek(offset)
        block = self.file.read(end - offset)
        pos = 0
        for _ in range(row - rows_before):
            pos = block.index(b"\n", pos) + 1
        sha = sha.copy()
        sha.update(block[:pos])
        return offset + pos, sha

    def _copy(self, start: int, end: int, rows: int, path: Path) -> dict:
        """Bytes [start, end) of the ordered file into `path`, and their figures. Run for
        validation and test at once, in threads: the server is done by now, so both cores
        are free, and the copy and the hash release the GIL."""
        with open(self.path, "rb") as src, open(path, "wb") as dst:
            copy_range(src.fileno(), dst.fileno(), start, end - start)
            src.seek(start)
            sha, left = hashlib.sha256(), end - start
            while left:
                chunk = src.read(min(left, READ_SIZE))
                sha.update(chunk)
                left -= len(chunk)
        return {"rows": rows, "bytes": end - start, "sha256": sha.hexdigest()}

    def finish(self) -> dict:
        self.file.flush()
        n = self.rows
        n_test, n_val = rounded(n, self.f_test), rounded(n, self.f_val)
        n_train = n - n_val - n_test
        train_end, train_sha = self._offset(n_train)
        val_end, _ = self._offset(n_train + n_val)
        with ThreadPoolExecutor(2) as pool:
            val = pool.submit(
                self._copy, train_end, val_end, n_val, self.out_dir / "validation.csv"
            )
            test = pool.submit(self._copy, val_end, self.bytes, n_test, self.out_dir / "test.csv")
            result = {"validation": val.result(), "test": test.result()}
        self.file.truncate(train_end)
        self.file.close()
        self.path.replace(self.out_dir / "train.csv")
        result["train"] = {"rows": n_train, "bytes": train_end, "sha256": train_sha.hexdigest()}
        return {s: result[s] for s in SPLITS}


# --- the process -----------------------------------------------------------------------------


def run(spec: dict, blocks: Iterator[bytes]) -> dict:
    """Read COPY's CSV as blocks of bytes, write the three files; return their figures."""
    out_dir = Path(spec["out_dir"])
    if spec["plain"]:
        chunks = plain_chunks(blocks)
        batches = reordered(chunks, spec["ncols"], spec["target"], spec["features"])
    else:
        batches = csv_lines(blocks, [spec["target"], *spec["features"]])
    if spec["mode"] == "time":
        splitter: RandomSplit | TimeSplit = TimeSplit(out_dir, spec["validation"], spec["test"])
    else:
        splitter = RandomSplit(out_dir, spec["validation"], spec["test"], spec["seed"])
    missing = 0
    for blob, rows, lacking in batches:
        splitter.add(blob, rows)
        missing += lacking
    files = splitter.finish()
    return {"files": files, "missing_targets": missing}


def main() -> None:
    spec = json.loads(sys.argv[1])
    with open(spec["raw"], "rb", buffering=0) as raw:
        result = run(spec, follow(raw, sys.stdin.fileno()))
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: the parent is waiting on us


if __name__ == "__main__":
    main()
