"""extract → tune → register, the scheduled retraining of one model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from mmeops.config.repo import Repo
from mmeops.extract.run import ExtractResult, extract
from mmeops.register.run import Registration, register
from mmeops.tune.run import Progress, TuneResult, preflight, tune


@dataclass(frozen=True)
class Retrain:
    extract: ExtractResult
    tune: TuneResult
    registration: Registration


def retrain(
    repo: Repo,
    model: str,
    *,
    testing: bool = False,
    backend: str = "local",
    max_jobs: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: Callable[[Progress], None] | None = None,
    recalibrate: bool = False,
) -> Retrain:
    """Run the three stages on one fresh dataset; the gate's verdict is in the result
    (`registration.version` is None when it failed), never an exception."""
    # Every refusal known up front (unknown model, backend, image, xgboost version, nothing
    # to recalibrate with) comes before the extract uploads anything.
    preflight(repo, model, backend, testing, max_jobs, recalibrate)
    extracted = extract(repo, model, start=start, end=end)
    tuned = tune(
        repo,
        model,
        dataset=extracted.run_id,
        backend=backend,
        testing=testing,
        max_jobs=max_jobs,
        progress=progress,
        recalibrate=recalibrate,
    )
    registered = register(repo, model, tuned.record.job_name)
    return Retrain(extracted, tuned, registered)
