"""The second half of an extract: COPY's CSV, followed in raw.csv as the COPY loop writes
it → the train / validation / test files the SageMaker XGBoost container reads (label first,
no header, numeric features only).

It runs in a thread of the extract's own process (`follow`), beside the COPY loop: every
step that touches the data (reading the file, hashing, the C loops, writing) releases the
GIL, so it runs on the other core while the COPY loop (extract.copyout, in C, the GIL
taken once per 1 MB written) keeps the server streaming. (It was a child process; a thread
saves the interpreter's start, the child's memory, and the pipe of JSON back.) It follows
raw.csv (a byte on the notify pipe per write, EOF at the end) rather than receiving the
bytes: no chunk is held twice. The column types were checked beforehand, so every value is
already a number in PostgreSQL's shortest exact text and is copied, never re-formatted.

The per-row loops (reorder a line's fields, write a NULL feature as `nan` and look for
text training may not use, as it copies; send each line to its split) are in C
(_fastsplit.c) when it was built, writing into buffers reused for the whole stream: in
Python they cost about 2 µs a row, which on a 2-core runner made the split, not the server,
the slowest part of an extract. Without the extension, or with MMEOPS_PURE_PYTHON=1, the
same operations run in Python; both produce the same bytes (tests/extract/test_split.py,
test_same_bytes.py).

Splits:
- random: exact sizes without knowing the row count up front. Rows go in blocks of
  BLOCK; block j gets round((j+1)·B·f) − round(j·B·f) held-out rows, placed by a seeded
  permutation, so totals equal round(N·f) and the same seed and rows give the same split.
- time: the query orders rows by time; the newest round(N·f_test) rows are the test set and
  the round(N·f_validation) before them the validation set. Rows are written in order to one
  file, which is cut at the two boundaries once N is known.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmeops.errors import MmeopsError
from mmeops.extract import scan as extract_scan
from mmeops.extract.read import (
    READ_SIZE,
    Batch,
    Follow,
    Hashed,
    csv_lines,
    joined,
    native,
    plain_batches,
)

if TYPE_CHECKING:
    import numpy as np

SPLITS = ("train", "validation", "test")
BLOCK = 1000


def rounded(k: int, fraction: float) -> int:
    """round(k·fraction), halves up: the held-out count among the first k rows."""
    return math.floor(k * fraction + 0.5)


class Router:
    """Sends each line to its split: through the C loop, into three buffers it reuses; or
    in Python."""

    def __init__(self, fast: Any) -> None:
        self.fast = fast  # the C module, or None
        self.outs = [bytearray(), bytearray(), bytearray()]

    def route(self, data: bytearray, labels: np.ndarray) -> tuple[list[memoryview], int]:
        """The first len(labels) lines of `data` by split; and the bytes they took."""
        if self.fast is None:
            return self._python(bytes(data), labels)
        if len(self.outs[0]) < len(data):
            self.outs = [bytearray(2 * len(data)) for _ in SPLITS]
        consumed, *written = self.fast.route(data, labels.tobytes(), *self.outs)
        return [memoryview(o)[:n] for o, n in zip(self.outs, written, strict=True)], consumed

    @staticmethod
    def _python(data: bytes, labels: np.ndarray) -> tuple[list[memoryview], int]:
        lines = data.split(b"\n", len(labels))
        rest = lines.pop()
        picks = labels.tolist()
        parts = []
        for split in range(len(SPLITS)):
            chosen = list(compress(lines, [p == split for p in picks]))
            chosen.append(b"")
            parts.append(memoryview(b"\n".join(chosen) if len(chosen) > 1 else b""))
        return parts, len(data) - len(rest)


# --- writing splits --------------------------------------------------------------------------


class Out:
    """One output file with its running sha256, byte and row counts."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 (closed in close())
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.rows = 0

    def write(self, blob: bytes | memoryview, rows: int) -> None:
        self.file.write(blob)
        self.sha.update(blob)
        self.bytes += len(blob)
        self.rows += rows

    def close(self) -> dict:
        self.file.close()
        return {"rows": self.rows, "bytes": self.bytes, "sha256": self.sha.hexdigest()}


class RandomSplit:
    """Seeded, exact-size random split in blocks (see the module docstring)."""

    def __init__(self, out_dir: Path, validation: float, test: float, seed: int, fast: Any):
        import numpy as np  # here, not at the top: the time split needs no numpy (25 MB RSS)

        self.outs = [Out(out_dir / f"{s}.csv") for s in SPLITS]
        self.f_test, self.f_heldout = test, test + validation
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self.router = Router(fast)
        self.pending, self.pending_rows = bytearray(), 0  # lines of a block not yet complete

    def add(self, blob: bytes | memoryview, rows: int) -> None:
        self.pending += blob
        self.pending_rows += rows
        full = self.pending_rows // BLOCK
        if full:
            self._assign(full, BLOCK)

    def _assign(self, blocks: int, size: int) -> None:
        """Route the first blocks·size pending lines, `size` rows to a block."""
        labels = self._labels(blocks, size)
        parts, consumed = self.router.route(self.pending, labels)
        for split, (out, part) in enumerate(zip(self.outs, parts, strict=True)):
            out.write(part, int((labels == split).sum()))
        del self.pending[:consumed]
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


def _rounded(k: np.ndarray, fraction: float) -> np.ndarray:
    import numpy as np

    return np.floor(k * fraction + 0.5).astype(np.int64)


class TimeSplit:
    """Rows in query order to one file; cut into train | validation | test at the end.

    The train file's hash follows the rows that are train whatever the final count: with
    N >= the c rows seen so far, n_train(N) = N - round(N·f_val) - round(N·f_test) >=
    N·f_train - 1 >= c·f_train - 1. So the held-out rows, 40% of the bytes by default, are
    hashed once (as validation and test), not twice, and the train hash's last piece at the
    end is about one write long."""

    def __init__(self, out_dir: Path, validation: float, test: float):
        self.out_dir = out_dir
        self.f_val, self.f_test = validation, test
        self.f_train = 1 - validation - test
        self.path = out_dir / "ordered.part"
        self.file = open(self.path, "w+b", buffering=0)  # noqa: SIM115 (closed in finish())
        self.fd = self.file.fileno()
        # (rows before, bytes before) at every write: where a cut point's block starts.
        self.marks: list[tuple[int, int]] = []
        self.rows = self.bytes = 0
        self.train_sha, self.hashed, self.next_mark = hashlib.sha256(), 0, 0
        # One buffer for the train hash's reads: a fresh 1 MB per write cost a memset and
        # page faults each time.
        self.train_buf = bytearray(READ_SIZE)

    def add(self, blob: bytes | memoryview, rows: int) -> None:
        if not rows:
            return
        self.marks.append((self.rows, self.bytes))
        with memoryview(blob) as view:
            while view:
                view = view[self.file.write(view) :]
        self.rows += rows
        self.bytes += len(blob)
        sure = math.floor(self.rows * self.f_train) - 2  # rows that are train (see above)
        while self.next_mark + 1 < len(self.marks) and self.marks[self.next_mark + 1][0] <= sure:
            self.next_mark += 1
        self._hash_train(self.marks[self.next_mark][1])

    def _hash_train(self, end: int) -> None:
        if end > self.hashed:
            _hash_range(self.fd, self.hashed, end, self.train_sha, self.train_buf)
            self.hashed = end

    def _offset(self, row: int) -> int:
        """Byte offset where `row` starts."""
        if row >= self.rows:
            return self.bytes
        i = bisect.bisect_right(self.marks, (row, math.inf)) - 1
        rows_before, offset = self.marks[i]
        end = self.marks[i + 1][1] if i + 1 < len(self.marks) else self.bytes
        block = os.pread(self.fd, end - offset, offset)
        pos = 0
        for _ in range(row - rows_before):
            pos = block.index(b"\n", pos) + 1
        return offset + pos

    def _held_out(
        self, pool: ThreadPoolExecutor, start: int, end: int, rows: int, name: str
    ) -> Future[dict]:
        """Bytes [start, end) of the ordered file as `name`, and a future of its figures.
        The server is done by now: this is the one step an extract adds after its last row.
        One task per file reads each 1 MB once from the page cache, hashes it while it is in
        cache and writes it: at 2,000,000 rows 0.21 s of CPU against 0.27 s for a kernel
        copy (copy_file_range) beside a separate hashing read, which read every byte twice
        (docs/performance.md). Validation and test run on the two cores the server has left
        (an mmap would count the range in the peak RSS)."""
        return pool.submit(_copy_hashed, self.fd, start, end, self.out_dir / name, rows)

    def finish(self) -> dict:
        n = self.rows
        n_test, n_val = rounded(n, self.f_test), rounded(n, self.f_val)
        n_train = n - n_val - n_test
        train_end = self._offset(n_train)
        val_end = self._offset(n_train + n_val)
        with ThreadPoolExecutor(2) as pool:
            val = self._held_out(pool, train_end, val_end, n_val, "validation.csv")
            test = self._held_out(pool, val_end, self.bytes, n_test, "test.csv")
            self._hash_train(train_end)
            result = {"validation": val.result(), "test": test.result()}
        self.file.truncate(train_end)
        self.file.close()
        self.path.replace(self.out_dir / "train.csv")
        result["train"] = {
            "rows": n_train,
            "bytes": train_end,
            "sha256": self.train_sha.hexdigest(),
        }
        return {s: result[s] for s in SPLITS}


def _hash_range(
    fd: int, start: int, end: int, sha: Any, buf: bytearray | None = None, dst: Any = None
) -> None:
    """Feed bytes [start, end) of a file to `sha`, read 1 MB at a time into one buffer
    (`buf`, or a new one); with `dst` (a file), also write each read there while it is in
    cache: the bytes are read once for both."""
    buf = buf or bytearray(min(READ_SIZE, max(end - start, 1)))
    with memoryview(buf) as view:
        while start < end:
            n = os.preadv(fd, [view[: min(end - start, len(buf))]], start)
            if n == 0:
                raise MmeopsError(f"the ordered rows ended {end - start} bytes early")
            sha.update(view[:n])
            chunk = view[:n]
            while dst is not None and chunk:
                chunk = chunk[dst.write(chunk) :]
            start += n


def _copy_hashed(src: int, start: int, end: int, path: Path, rows: int) -> dict:
    """Bytes [start, end) of `src` as a new file at `path`, hashed on the way; its figures."""
    sha = hashlib.sha256()
    with open(path, "wb", buffering=0) as dst:
        _hash_range(src, start, end, sha, dst=dst)
    return {"rows": rows, "bytes": end - start, "sha256": sha.hexdigest()}


# --- missing values --------------------------------------------------------------------------


def missing_as_nan(blob: bytes | memoryview) -> bytes | memoryview:
    """Empty fields (NULL in the warehouse) written as `nan`. The SageMaker XGBoost container
    refuses a training CSV with an empty field (FACTS: "CSV training channels cannot hold an
    empty field"; the embedded stack loads channels as it does and fails the job), while
    `nan` is a missing value to every reader of these files: strtof and xgboost's own CSV
    parser, numpy's loadtxt (the container's path here), pandas (the local backend, register).
    Only features can be empty: a NULL target refuses the extract. Lines start with the
    target, so an empty feature is `,,` or `,` at a line's end; `replace` matches do not
    overlap, so a run of empties needs the second pass."""
    data = bytes(blob)  # a memoryview has no substring search; the copy runs at memcpy speed
    if b",," not in data and b",\n" not in data:
        return blob
    out = data.replace(b",,", b",nan,").replace(b",,", b",nan,")
    return out.replace(b",\n", b",nan\n")


# --- the split ------------------------------------------------------------------------------


def finisher(binary: bool) -> Callable[[list[bytes]], Batch]:
    """The Python loops' last step: what the C loop does as it copies."""

    def finish(lines: list[bytes]) -> Batch:
        blob, rows, missing = joined(lines)
        odd = extract_scan.odd(blob, binary)  # on COPY's text, before `nan` is written
        return missing_as_nan(blob), rows, missing, odd

    return finish


def run(spec: dict, source: io.RawIOBase) -> dict:
    """Read COPY's CSV from `source`, write the three files; return their figures."""
    out_dir = Path(spec["out_dir"])
    ncols, target, features = spec["ncols"], spec["target"], spec["features"]
    fast, binary = native(), spec.get("binary", False)
    finish = finisher(binary)
    if spec["plain"]:
        batches = plain_batches(source, fast, (ncols, target, features), binary, finish)
    else:
        batches = csv_lines(source, [target, *features], finish)
    if spec["mode"] == "time":
        splitter: RandomSplit | TimeSplit = TimeSplit(out_dir, spec["validation"], spec["test"])
    else:
        splitter = RandomSplit(out_dir, spec["validation"], spec["test"], spec["seed"], fast)
    missing, odd = 0, False
    for blob, rows, lacking, odd_here in batches:
        splitter.add(blob, rows)
        missing += lacking
        odd = odd or odd_here
    files = splitter.finish()
    return {"files": files, "missing_targets": missing, "odd_values": odd}


def follow(spec: dict, notify_fd: int, stop: threading.Event) -> dict:
    """The split of raw.csv as it is written (see Follow), with raw.csv's own figures."""
    with open(spec["raw"], "rb", buffering=0) as raw:
        source = Hashed(Follow(raw, notify_fd, stop))
        return {**run(spec, source), "raw": source.figures()}
