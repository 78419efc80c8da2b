"""Faults for the embedded SageMaker's training and tuning jobs, used only by tests.

Process-global like moto itself (and like `faults.throttling`), one block at a time:

    with training_faults(fail_training_jobs={2}) as injected:   # the 2nd job of each tuning job
        ...
    with training_faults(stop_tuning_after=3):   # tuning jobs stopped once 3 training jobs ended
        ...
    with training_faults(fail_tuning="InternalServerError"):   # tuning jobs fail outright
        ...
    injected.events  # what was injected, as (tuning job, training job or "", fault) tuples

Training jobs are numbered from 1 in launch order within their tuning job, as the
`-001-` part of their name shows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class TrainingFaults:
    fail_training_jobs: frozenset[int] = frozenset()
    stop_tuning_after: int | None = None
    fail_tuning: str | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def record(self, tuning_job: str, training_job: str, fault: str) -> None:
        with self._lock:
            self.events.append((tuning_job, training_job, fault))


_active: TrainingFaults | None = None


def active() -> TrainingFaults | None:
    """The faults in force now (the stack reads this as each job starts or ends)."""
    return _active


@contextmanager
def training_faults(
    fail_training_jobs: Iterable[int] = (),
    stop_tuning_after: int | None = None,
    fail_tuning: str | None = None,
) -> Iterator[TrainingFaults]:
    """Inject faults into every tuning job that runs while the block is open."""
    global _active
    if _active is not None:
        raise RuntimeError("training faults are already on")
    _active = TrainingFaults(frozenset(fail_training_jobs), stop_tuning_after, fail_tuning)
    try:
        yield _active
    finally:
        _active = None
