"""Which models' retraining schedules fell due in a time window (the scheduled workflow's
first job turns this into a matrix)."""

from __future__ import annotations

import datetime as dt

from croniter import croniter

from mmeops.config.repo import Repo
from mmeops.errors import UserError


def due_models(repo: Repo, since: dt.datetime, until: dt.datetime) -> list[str]:
    """Models whose cron `schedule` fired in (since, until], sorted by name.

    The workflow passes its previous run's time as `since`, so a schedule that fired while a
    run was late or skipped is still picked up once, and never twice.
    """
    due = []
    for name, model in sorted(repo.models.items()):
        if model.schedule is None:
            continue
        if _next_fire(model.schedule, since) <= until:
            due.append(name)
    return due


def _next_fire(schedule: str, since: dt.datetime) -> dt.datetime:
    """The first time `schedule` fires after `since`; past the last representable time
    (year 9999) when the next firing falls beyond it: it never comes."""
    try:
        return croniter(schedule, since).get_next(dt.datetime)
    except OverflowError:
        return dt.datetime.max.replace(tzinfo=dt.timezone.utc)


# "A matrix will generate a maximum of 256 jobs per workflow run" (GitHub, "Running variations
# of jobs in a workflow"; "Usage limits, billing, and administration"): one run retrains at
# most this many models, in one matrix. With the started records (started.py) the others stay
# due and the next hourly run takes them, oldest firing first.
RUN_LIMIT = 256


def check_run_size(models: list[str], limit: int = RUN_LIMIT) -> list[str]:
    """`models` when they fit one run; a UserError with the fix otherwise (names chosen by
    hand, or a window read without the started records, would be dropped silently)."""
    if len(models) > limit:
        raise UserError(
            f"{len(models)} models exceed the {limit} one run can retrain (GitHub's matrix "
            "limit): name fewer, or let the scheduled run (mmeops due --started) spread them "
            "over successive runs"
        )
    return models


def chosen_models(repo: Repo, names: list[str]) -> list[str]:
    """The named models (deduplicated, sorted), each checked to exist: a retrain by hand
    ignores `schedule`, so a model without one can be retrained too."""
    names = [n for n in names if n]
    if not names:
        raise UserError("--models names no model: give at least one name from models/")
    for name in names:
        repo.model(name)  # an unknown name is a UserError listing the known ones
    return sorted(set(names))
