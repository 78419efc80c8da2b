"""The plan's capacity line: do the environment's pinned models fit in its endpoint's memory?

Pure: the instance type, count and the number of pinned models in, one line out. A multi-model
endpoint keeps each loaded XGBoost model in its own worker process (mmeops/capacity.py); pin
more models than the fleet holds and requests for the least recently used ones reload them
(seconds each, ModelNotReadyException past the runtime's 60 s wait).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmeops.capacity import capacity


@dataclass(frozen=True)
class Fit:
    line: str
    over: bool  # more pinned models than the fleet holds loaded


def fit(instance_type: str, instance_count: int, pinned: int) -> Fit:
    cap = capacity(instance_type)
    if cap is None:
        return Fit(
            f"capacity: unknown for {instance_type} (not in mmeops/capacity.py's table); "
            f"{pinned} models pinned",
            False,
        )
    fleet = cap.per_instance * instance_count
    head = (
        f"capacity: {instance_count} x {instance_type} hold {fleet} XGBoost models loaded at "
        f"once ({cap.per_instance} per instance; {cap.summary()}); {pinned} pinned"
    )
    if pinned > fleet:
        return Fit(
            f"{head}: more than fit, expect cold loads and ModelNotReadyException under "
            "traffic (a larger instance type or more instances hold more)",
            True,
        )
    return Fit(head, False)
