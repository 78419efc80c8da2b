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


# GitHub expands a matrix into at most 256 jobs: the scheduled workflow fans out over batches
# (one matrix) and each batch over its models (another), so neither exceeds the limit.
MATRIX_LIMIT = 256


def batches(models: list[str], size: int = MATRIX_LIMIT) -> list[list[str]]:
    """`models` cut into consecutive batches of at most `size`; at most `size` batches."""
    if not 1 <= size <= MATRIX_LIMIT:
        raise UserError(f"--batch-size must be 1 to {MATRIX_LIMIT}, not {size}")
    cut = [models[i : i + size] for i in range(0, len(models), size)]
    if len(cut) > MATRIX_LIMIT:
        raise UserError(
            f"{len(models)} models in one run exceed {MATRIX_LIMIT} batches of {size}: "
            "shorten the window (--since) or spread the models' schedules"
        )
    return cut


def chosen_models(repo: Repo, names: list[str]) -> list[str]:
    """The named models (deduplicated, sorted), each checked to exist: a retrain by hand
    ignores `schedule`, so a model without one can be retrained too."""
    names = [n for n in names if n]
    if not names:
        raise UserError("--models names no model: give at least one name from models/")
    for name in names:
        repo.model(name)  # an unknown name is a UserError listing the known ones
    return sorted(set(names))
