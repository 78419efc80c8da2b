"""Which models' retraining schedules fell due in a time window (the scheduled workflow's
first job turns this into a matrix)."""

from __future__ import annotations

import datetime as dt

from croniter import croniter

from mmeops.config.repo import Repo


def due_models(repo: Repo, since: dt.datetime, until: dt.datetime) -> list[str]:
    """Models whose cron `schedule` fired in (since, until], sorted by name.

    The workflow passes its previous run's time as `since`, so a schedule that fired while a
    run was late or skipped is still picked up once, and never twice.
    """
    due = []
    for name, model in sorted(repo.models.items()):
        if model.schedule is None:
            continue
        next_fire = croniter(model.schedule, since).get_next(dt.datetime)
        if next_fire <= until:
            due.append(name)
    return due
