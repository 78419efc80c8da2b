"""Choosing warm-start parents from the tuning history: a pure function, no AWS.

SageMaker's rules decide compatibility (the same rules keep the local backend honest):
same tunable hyperparameter names and types, the same static hyperparameter names, same
objective, at most 10 changes of static values, at most 5 parents. Whatever the history
holds, the answer is a plan: warm start from some parents, or cold start with a one-line
reason. Never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mmeops.tune.history import USABLE, TuningRecord

# The wire values of botocore's HyperParameterTuningJobWarmStartType (what the SageMaker SDK
# sends; the API reference's prose spells them IDENTICAL_DATA_AND_ALGORITHM and
# TRANSFER_LEARNING, which AWS refuses).
IDENTICAL = "IdenticalDataAndAlgorithm"
TRANSFER = "TransferLearning"
SAGEMAKER_MAX_PARENTS = 5
MAX_STATIC_CHANGES = 10


@dataclass(frozen=True)
class Today:
    """What today's tuning job will be, as far as parent selection cares."""

    model: str
    objective: str
    eval_metric: str
    ranges: Mapping[str, Mapping[str, Any]]
    static_hyperparameters: Mapping[str, Any]
    dataset_sha256: str
    image_version: str
    backend: str
    max_parents: int = SAGEMAKER_MAX_PARENTS


@dataclass(frozen=True)
class WarmStart:
    type: str | None  # IDENTICAL, TRANSFER or None (cold start)
    parents: tuple[TuningRecord, ...]
    reason: str  # one line for the output

    @property
    def cold(self) -> bool:
        return self.type is None

    @property
    def parent_names(self) -> list[str]:
        return [p.job_name for p in self.parents]


def static_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> int:
    """Keys added, removed or given another value. SageMaker passes every static value as a
    string, so 200 and "200" are the same value."""
    return sum(
        1 for k in set(old) | set(new) if k not in old or k not in new or str(old[k]) != str(new[k])
    )


def _difference(old: set[str], new: set[str]) -> str:
    added, removed = sorted(new - old), sorted(old - new)
    return "; ".join(
        ([f"added {', '.join(added)}"] if added else [])
        + ([f"removed {', '.join(removed)}"] if removed else [])
    )


def incompatibility(parent: TuningRecord, today: Today) -> str | None:
    """Why SageMaker would refuse `parent` as a parent of today's job, or None."""
    if parent.objective != today.objective or parent.eval_metric != today.eval_metric:
        return (
            f"objective {parent.objective} / {parent.eval_metric} differs from today's "
            f"{today.objective} / {today.eval_metric}"
        )
    old, new = set(parent.ranges), set(today.ranges)
    if old != new:
        return f"tuned hyperparameters differ ({_difference(old, new)})"
    # AWS refuses a parent whose static plus tunable names differ from today's, whatever the
    # warm-start type ("must be the same as in the parent"); values may change (at most 10).
    old_static, new_static = set(parent.static_hyperparameters), set(today.static_hyperparameters)
    if old_static != new_static:
        return f"static hyperparameters differ ({_difference(old_static, new_static)})"
    for name in sorted(new):
        was, now = parent.ranges[name].get("type"), today.ranges[name].get("type")
        if was != now:
            return f"{name} changed type from {was} to {now}"
    changes = static_changes(parent.static_hyperparameters, today.static_hyperparameters)
    if changes > MAX_STATIC_CHANGES:
        return f"{changes} static hyperparameters changed (SageMaker allows {MAX_STATIC_CHANGES})"
    return None


def ineligibility(record: TuningRecord, today: Today) -> str | None:
    """Why `record` cannot be a parent today, or None when it can."""
    if record.testing or record.n_training_jobs <= 1:
        return "a testing run (one training job)"
    if record.status not in USABLE or record.best_value is None:
        return f"status {record.status}"
    if today.backend == "sagemaker" and record.backend != "sagemaker":
        return f"a {record.backend} run; SageMaker warm-starts only from its own tuning jobs"
    if today.backend != "sagemaker" and not record.trials:
        return "no recorded trials"
    return incompatibility(record, today)


def _newest_first(records: Iterable[TuningRecord]) -> list[TuningRecord]:
    # ISO-8601 UTC times sort as strings; among equal times the later line is the newer one.
    indexed = list(enumerate(records))
    indexed.sort(key=lambda item: (item[1].time, item[0]), reverse=True)
    return [record for _, record in indexed]


def choose(history: Iterable[TuningRecord], today: Today) -> WarmStart:
    """The parents for today's tuning job, newest first, and the warm-start type."""
    limit = min(today.max_parents, SAGEMAKER_MAX_PARENTS)
    own = _newest_first(r for r in history if r.model == today.model)
    if limit <= 0:
        return WarmStart(None, (), "cold start: tuning.max_parents is 0")
    if not own:
        return WarmStart(None, (), f"cold start: no earlier tuning job of {today.model}")
    parents: list[TuningRecord] = []
    first_refusal: str | None = None
    for record in own:
        why = ineligibility(record, today)
        if why is None:
            parents.append(record)
            if len(parents) == limit:
                break
        elif first_refusal is None:
            first_refusal = f"{record.job_name}: {why}"
    if not parents:
        return WarmStart(
            None,
            (),
            f"cold start: none of {len(own)} earlier tuning jobs is "
            f"eligible (newest, {first_refusal})",
        )
    same = all(
        p.dataset_sha256 == today.dataset_sha256 and p.image_version == today.image_version
        for p in parents
    )
    kind = IDENTICAL if same else TRANSFER
    why = "same dataset and image" if same else "the dataset or image changed"
    names = ", ".join(p.job_name for p in parents)
    plural = "s" if len(parents) > 1 else ""
    return WarmStart(
        kind,
        tuple(parents),
        f"warm start {kind} from {len(parents)} parent{plural} ({why}): {names}",
    )
