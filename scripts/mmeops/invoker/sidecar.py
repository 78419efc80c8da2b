"""Work done beside a client's answer: shadow calls and capture writes. Two strategies, one
interface (`run(fn)`, `settle()`):

- `Detached` (the local server): a small pool; `settle()` never waits, and when the pool is
  behind by `max_pending` tasks a new one is dropped (and counted), so shadow traffic and
  capture can neither delay nor fail the client's answer.
- `Deadline` (Lambda): the execution environment is frozen once the handler returns, so
  pending work would be lost or resumed minutes later. Tasks start at once on their own threads
  (a shadow call runs beside the champion's); `settle()`, called after the answer is built,
  waits for them at most `after` seconds (50 ms) and abandons what is left (counted in
  `cut`). The cost: up to 50 ms more billed duration per mirrored or captured request, and
  mirrored calls slower than the champion by more than that are lost. The alternative, a
  queue (SQS) drained by a second function, loses nothing but costs a SendMessage per
  mirrored request (and a 256 KB message limit, below the 6 MB body): not chosen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


def _guarded(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # a shadow or a capture failure is logged, never the client's problem
        log.exception("front door background task")


class Detached:
    def __init__(self, workers: int = 4, max_pending: int = 1000):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sidecar")
        self._pending = 0
        self._lock = threading.Lock()
        self.max_pending = max_pending
        self.dropped = 0

    def run(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._pending >= self.max_pending:
                self.dropped += 1
                return
            self._pending += 1
        self._pool.submit(self._done_after, fn)

    def _done_after(self, fn: Callable[[], None]) -> None:
        try:
            _guarded(fn)
        finally:
            with self._lock:
                self._pending -= 1

    def settle(self) -> None:
        """Nothing to wait for: the answer never waits on the side work."""

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every task ran (tests, benchmarks, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._pending


class Deadline:
    def __init__(self, after: float = 0.05):
        self.after = after
        self._local = threading.local()
        self.cut = 0

    def run(self, fn: Callable[[], None]) -> None:
        thread = threading.Thread(target=_guarded, args=(fn,), daemon=True)
        thread.start()
        self._threads().append(thread)

    def _threads(self) -> list[threading.Thread]:
        if not hasattr(self._local, "threads"):
            self._local.threads = []
        return self._local.threads

    def settle(self) -> None:
        deadline = time.monotonic() + self.after
        for thread in self._threads():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self.cut += 1
        self._local.threads = []

    def drain(self, timeout: float = 10.0) -> bool:
        return True
