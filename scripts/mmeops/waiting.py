"""Waiting for AWS to finish something (a tuning job, a training job, an endpoint update or
deletion): poll with pauses that start short and double up to a cap, under a deadline.

Short first pauses see a quick change quickly (a small endpoint update); doubling keeps a long
wait (minutes to hours on AWS) to a few calls. The last pause is cut to the deadline, so a wait
ends within one call of it.

A wait for SageMaker's jobs counts its pauses in SageMaker seconds (`sagemaker_seconds`): on
AWS they are real seconds; the embedded stack runs SageMaker's own phases faster
(MMEOPS_STACK_TIME_SCALE, docs/embedded-stack.md) and exports the same factor as
`MMEOPS_POLL_SCALE`, so the product polls a job that lasts a second on the stack as often,
relative to the job, as it polls a job of minutes on AWS. Never below `MIN_PAUSE`: each poll is
a request the stack answers on the CPU (and under the GIL) its training jobs use; at 50 ms the
polls slowed the stack's tuning jobs by a fifth on a loaded 2-core machine. At 0.1 s a tuning
job of a second loses 0.05 s on average waiting for the next poll (0.1 s at the 0.2 s floor
this had before the stack's jobs got shorter: docs/performance.md); on AWS the pauses are
seconds, and the floor never applies.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SCALE_ENV = "MMEOPS_POLL_SCALE"
MIN_PAUSE = 0.1


def poll_scale() -> float:
    """Real seconds per SageMaker second for the product's pauses: `MMEOPS_POLL_SCALE` when it
    is a number in [0, 1], else 1 (AWS: a malformed or larger value never makes a wait
    slower than designed, nor a smaller one busy-loop)."""
    raw = os.environ.get(POLL_SCALE_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return 1.0
    return value if math.isfinite(value) and 0 <= value <= 1 else 1.0


def sagemaker_seconds(seconds: float) -> float:
    """A pause of `seconds` SageMaker seconds in real seconds (`poll_scale`), never shorter
    than MIN_PAUSE."""
    return max(seconds * poll_scale(), MIN_PAUSE)


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
