"""Reading an extract's COPY stream: CSV → output lines (target first, then the
features), in batches. Used by the split (extract.split), in a thread beside the COPY loop.

Plain results (no value can hold a comma, quote or line break) are cut into lines and
reordered by the C loop (_fastsplit.c) or, without it, by the same operations in Python;
results with quoted values go through the csv module.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from operator import itemgetter, methodcaller
from typing import Any

READ_SIZE = 1 << 20

Transform = Callable[[list[bytes]], list[bytes]]
# Lines ready for a split file (`nan` for a NULL feature), their count, how many lack a
# target, whether they may hold a value training cannot use (scan.odd).
Batch = tuple[bytes | memoryview, int, int, bool]
# Output lines (without their line breaks) → a Batch: the Python loops' last step, which
# the C loop does as it copies.
Finish = Callable[[list[bytes]], Batch]


def native() -> Any:
    """The C loops, or None: not built here, or turned off with MMEOPS_PURE_PYTHON=1."""
    if os.environ.get("MMEOPS_PURE_PYTHON") == "1":
        return None
    try:
        from mmeops.extract import _fastsplit
    except ImportError:
        return None
    return _fastsplit


class Follow(io.RawIOBase):
    """The raw file's bytes as the COPY loop writes them. The loop sends a byte on the notify
    pipe after each write and closes it at the end, so reading the file to its current end,
    then waiting on the pipe, never misses data and never polls. `stop` set: the COPY
    failed, so the end is now (what follows is thrown away).

    Reading the file back, rather than being handed each chunk, costs a copy from the page
    cache, as a copy out of the COPY loop's reused buffer would, and keeps no chunk alive."""

    def __init__(self, raw: io.RawIOBase, notify_fd: int, stop: threading.Event):
        self.raw, self.notify_fd, self.finished, self.stop = raw, notify_fd, False, stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if self.stop.is_set():
                return 0
            n = self.raw.readinto(buffer)
            if n or self.finished:
                return n or 0
            if not os.read(self.notify_fd, 1 << 16):
                self.finished = True  # the writer is done: read what is left, then stop


class Hashed(io.RawIOBase):
    """A stream that hashes what is read through it: raw.csv's sha256 and size, here in the
    split's thread rather than in the COPY loop, which the server waits on."""

    def __init__(self, source: io.RawIOBase):
        self.source, self.sha, self.bytes = source, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.source.readinto(buffer) or 0
        with memoryview(buffer) as view:
            self.sha.update(view[:n])
        self.bytes += n
        return n

    def figures(self) -> dict:
        return {"bytes": self.bytes, "sha256": self.sha.hexdigest()}


def plain_batches(
    source: io.RawIOBase,
    fast: Any,
    layout: tuple[int, int, list[int]],
    binary: bool,
    finish: Finish,
) -> Iterator[Batch]:
    """Plain CSV → output lines (target first, then the features), through the C loop
    (`fast`) or, when it is None, the same operations in Python then `finish`. `layout`:
    (columns, target, features). One read buffer serves the whole stream, and with C one
    output buffer too: a yielded blob may be a view of it, valid until the next is asked
    for."""
    ncols, target, features = layout
    order = (target, *features)
    transform = None if fast else make_transform(ncols, target, features)
    # The C loop's output may be longer than its input (`nan`): it asks for 4 times.
    buf, out = bytearray(2 * READ_SIZE), bytearray(8 * READ_SIZE if fast else 0)
    filled, header, ended = 0, True, False
    while not ended:
        if filled == len(buf):  # one line longer than the buffer: make room
            buf.extend(bytes(len(buf)))
            out = bytearray(4 * len(buf) if fast else 0)
        with memoryview(buf) as view:
            n = source.readinto(view[filled:])
        if n == 0:  # the end: a last line without its line break still counts
            if filled == 0 or header:
                return
            ended, n = True, 1
            buf[filled] = ord("\n")  # there is room: a full buffer was grown above
        filled += n
        begin = 0
        if header:
            begin = buf.find(b"\n", 0, filled) + 1
            if not begin:
                continue  # the header is longer than what has arrived
            header = False
        with memoryview(buf) as view:
            if fast:
                consumed, written, rows, missing, odd = fast.reorder(
                    view[begin:filled], ncols, order, out, binary
                )
                batch: Batch = (memoryview(out)[:written], rows, missing, odd)
            else:  # complete lines only; a partial last one waits, as in the C loop
                consumed = max(buf.rfind(b"\n", begin, filled) + 1 - begin, 0)
                lines = bytes(view[begin : begin + consumed]).split(b"\n")
                del lines[-1]  # after the last line break
                batch = finish(transform(lines))
            rest = begin + consumed
            view[: filled - rest] = view[rest:filled]  # the partial line to the front
        filled -= rest
        if batch[1]:
            yield batch


def csv_lines(source: io.RawIOBase, columns: list[int], finish: Finish) -> Iterator[Batch]:
    """Batches of output lines through the csv module, for results with quoted values (a
    text time column). The selected columns are numeric, so joining them needs no quoting."""
    stream = io.BufferedReader(source, READ_SIZE)
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
    next(reader, None)
    pick = itemgetter(*columns)  # target and at least one feature: always a tuple
    batch: list[bytes] = []
    for row in reader:
        batch.append(",".join(pick(row)).encode())
        if len(batch) == 20000:
            yield finish(batch)
            batch = []
    if batch:
        yield finish(batch)


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


def joined(lines: list[bytes]) -> tuple[bytes, int, int]:
    """Output lines as one blob, their count, and the count of lines whose first field
    (the target) is empty: NULL in the warehouse."""
    rows = len(lines)
    lines.append(b"")  # the last line's line break (cheaper than copying the blob)
    blob = b"\n".join(lines)
    return blob, rows, blob.count(b"\n,") + (blob[:1] == b",")
