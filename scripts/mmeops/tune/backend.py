"""The one interface `tune` calls: a Job (what to train, on what data, from which parents) goes
to a backend, which returns the history record of what it produced. Two backends implement
it: `local` (optuna in this process) and `sagemaker` (a tuning job, or one training job to
recalibrate). Neither imports `run`, its caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mmeops.aws import Aws
from mmeops.config.kinds import ModelConfig
from mmeops.config.repo import Repo
from mmeops.tune import warmstart
from mmeops.tune.history import TuningRecord


@dataclass(frozen=True)
class Dataset:
    run_id: str
    sha256: str
    train_uri: str
    validation_uri: str


@dataclass(frozen=True)
class Progress:
    completed: int
    running: int
    failed: int
    total: int
    best_value: float | None = None


@dataclass(frozen=True)
class Job:
    """One tuning (or recalibration) of one model, as `tune` resolved it."""

    aws: Aws
    repo: Repo
    cfg: ModelConfig
    ds: Dataset
    plan: warmstart.WarmStart
    base: dict  # the record's fields known at the start (job name, ranges, parents, ...)
    n_jobs: int
    image: str | None  # the training image (the sagemaker backend's; None for local)
    progress: Callable[[Progress], None] | None = None


class Backend(Protocol):
    def search(self, job: Job) -> tuple[TuningRecord, int]:
        """Tune with up to `job.n_jobs` trials; the record and the parent trials it began with."""
        ...

    def recalibrate(self, job: Job) -> TuningRecord:
        """One training job with the champion's hyperparameters (the plan's first parent)."""
        ...
