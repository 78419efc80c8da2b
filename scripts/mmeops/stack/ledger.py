"""A process-wide log of what one of the stack's checks saw, apart from a test's expected refusals.

The strict validator and IAM enforcement each keep one. What happens outside `expecting()`
blocks goes to the process-global log the suite checks at its end; a block that provokes
refusals on purpose gets a log of its own, so the suite-wide check still means "nothing
unexpected". `disabled()` switches the check off, only for measuring what it costs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

L = TypeVar("L")
T = TypeVar("T")


class Ledger(Generic[L]):
    def __init__(self, new_log: Callable[[], L]):
        self._new_log = new_log
        self._lock = threading.Lock()
        self._global = new_log()
        self._expected: list[L] = []  # the innermost `expecting()` block's log, while one runs
        self.enabled = True

    def read(self, view: Callable[[L], T]) -> T:
        """`view` of the process-global log, taken under the lock."""
        with self._lock:
            return view(self._global)

    def write(self, change: Callable[[L], None]) -> None:
        """Apply `change` to the log the current request belongs to."""
        with self._lock:
            change(self._expected[-1] if self._expected else self._global)

    @contextmanager
    def expecting(self) -> Iterator[L]:
        """What the check sees while the block runs is the caller's (a test that provokes it):
        it goes to the yielded log, not to the process-global one the suite checks."""
        log = self._new_log()
        with self._lock:
            self._expected.append(log)
        try:
            yield log
        finally:
            with self._lock:
                self._expected.remove(log)

    @contextmanager
    def disabled(self) -> Iterator[None]:
        """The check off while the block runs: only for measuring its cost (benchmarks)."""
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = True
