"""Waiting for AWS to finish something (a tuning job, a training job, an endpoint update or
deletion): poll with pauses that start short and double up to a cap, under a deadline.

Short first pauses see a quick change quickly (the embedded stack's scaled-down jobs, a small
endpoint update); doubling keeps a long wait (minutes to hours on AWS) to a few calls. The
last pause is cut to the deadline, so a wait ends within one call of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    step: Callable[[], T | None],
    *,
    seconds: float,
    first: float,
    cap: float,
    late: Callable[[], Exception],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `step` until it returns something other than None and return that. `step` raises
    itself for a state that will not change; `late()` is raised once `seconds` have passed."""
    deadline = clock() + seconds
    pause = min(first, cap)
    while True:
        result = step()
        if result is not None:
            return result
        left = deadline - clock()
        if left <= 0:
            raise late()
        sleep(min(pause, left))
        pause = min(pause * 2, cap)
