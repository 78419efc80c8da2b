"""extract → tune → register, the scheduled retraining of one model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from mmeops.config.repo import Repo
from mmeops.extract.run import ExtractResult, extract
from mmeops.register.run import Registration, register
from mmeops.tune.run import Progress, TuneResult, decide_parents, preflight, tune
from mmeops.tune.warmstart import WarmStart


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
    announce: Callable[[str], None] | None = None,
) -> Retrain:
    """Run the three stages on one fresh dataset; the gate's verdict is in the result
    (`registration.version` is None when it failed), never an exception."""
    # Every refusal known up front (unknown model, backend, image, xgboost version, nothing
    # to recalibrate with) comes before the extract uploads anything.
    preflight(repo, model, backend, testing, max_jobs, recalibrate)
    # The warm start too: a parent whose static hyperparameters changed is dropped here, and
    # said, before the extract (AWS refuses it; every SageMaker retrain used to fail on it).
    parents = None
    if not recalibrate:
        decided = decide_parents(repo, model, backend)
        parents = tuple(decided.parent_names)
        if announce:
            announce(_decided(decided))
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
        parents=parents,
    )
    registered = register(repo, model, tuned.record.job_name)
    return Retrain(extracted, tuned, registered)


def _decided(plan: WarmStart) -> str:
    """The preflight's line: a cold start's reason as is; a warm start's parents, its type
    still to come from the dataset the extract writes."""
    if plan.cold:
        return plan.reason
    return f"warm start from {', '.join(plan.parent_names)} (type set by the new dataset)"
