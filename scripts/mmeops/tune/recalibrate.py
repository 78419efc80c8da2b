"""Recalibration: train once, on today's data, with the hyperparameters of the version the
champion environment serves: no search. A different kind of change from a retune (a new
hyperparameter search), so the report and the pull request say which one it was.

The champion's tuning record becomes the plan's only parent and its best hyperparameters the
single trial: the local search runs exactly them, the SageMaker backend one training job with
them (tune/training_job.py); the record is marked
`warm_start_type: RECALIBRATE` with one training job, which also keeps it from ever being a
warm-start parent (warmstart.ineligibility).
"""

from __future__ import annotations

from mmeops import registry
from mmeops.aws import for_account
from mmeops.config.repo import Repo
from mmeops.errors import UserError
from mmeops.tune import history
from mmeops.tune.history import TuningRecord
from mmeops.tune.warmstart import WarmStart

RECALIBRATE = "RECALIBRATE"


def champion_record(repo: Repo, model: str) -> tuple[str, int, TuningRecord]:
    """(champion environment, served version, its tuning record)."""
    cfg = repo.model(model)
    env_name = cfg.gate.champion_env or repo.settings.champion_env
    version = repo.env(env_name).versions.get(model)
    if version is None:
        raise UserError(
            f"{env_name} pins no version of {model}, so there are no approved hyperparameters "
            "to recalibrate with; retrain without --recalibrate (a tuning job)",
            repo.env_source(env_name).path,
        )
    t = repo.settings.training
    aws = for_account(t.account_id, t.region, t.role_arn)
    package = registry.describe(aws, model, version)
    job = (package or {}).get("CustomerMetadataProperties", {}).get("tuning_job")
    record = next(
        (r for r in history.read(aws, repo.settings.bucket, model) if r.job_name == job), None
    )
    if record is None or not record.best_hyperparameters:
        raise UserError(
            f"{model} v{version} (pinned in {env_name}) has no tuning record with "
            "hyperparameters; retrain without --recalibrate"
        )
    unknown = sorted(set(record.best_hyperparameters) - set(cfg.tuning.ranges))
    if unknown:
        raise UserError(
            f"{model} v{version} was tuned on {', '.join(unknown)}, which tuning.ranges no longer "
            "has; retrain without --recalibrate",
            repo.model_source(model).path,
            repo.model_source(model).line("tuning", "ranges"),
        )
    return env_name, version, record


def scheduled_kind(scheduled: str, champion_version: int | None, env: str) -> tuple[bool, str]:
    """What a scheduled run does: (recalibrate?, why). Recalibration needs a champion."""
    if scheduled == "retune":
        return False, "scheduled: retune (model.yaml)"
    if champion_version is None:
        return False, f"scheduled: retune, as {env} serves no version yet to recalibrate from"
    return True, f"scheduled: recalibrate {env}'s v{champion_version}"


def scheduled(repo: Repo, model: str) -> tuple[bool, str]:
    """`scheduled_kind` for `model` in this repository (model.yaml `scheduled`, and the
    champion environment's pin)."""
    cfg = repo.model(model)
    env_name = cfg.gate.champion_env or repo.settings.champion_env
    return scheduled_kind(cfg.scheduled, repo.env(env_name).models.get(model), env_name)


def plan(repo: Repo, model: str, backend: str) -> WarmStart:
    """The one-trial plan: the champion's record as the parent whose best is trained (the
    local backend's one trial, or the SageMaker backend's one training job; `backend` is
    either)."""
    env, version, record = champion_record(repo, model)
    reason = f"recalibration: {env}'s v{version} hyperparameters ({record.job_name}), no search"
    return WarmStart(RECALIBRATE, (record,), reason)


def kind_line(record: TuningRecord) -> str:
    """One markdown line naming the kind of change, for the report and the pull request."""
    if record.warm_start_type == RECALIBRATE:
        parent = record.parents[0] if record.parents else "the champion"
        return (
            f"**Kind: recalibrated**: one training job with the approved hyperparameters of "
            f"`{parent}`, no search."
        )
    return "**Kind: retuned**: a new hyperparameter search (may need a second reviewer)."
