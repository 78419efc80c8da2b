"""The tune stage: dataset → warm-start parents → backend → tuning record.

    tune(repo, "diabetes-progression", backend="local") -> TuneResult

Validation comes first (model, backend, job count, the xgboost version, the dataset exists);
only then does anything run or get written. Every finished job, failed ones included, leaves
a record in the history; a failed job then raises TuningFailed with SageMaker's reason.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmeops import artifact, jsonl
from mmeops.aws import Aws, for_account, split_s3_uri
from mmeops.config.kinds import ModelConfig
from mmeops.config.repo import Repo
from mmeops.errors import MmeopsError, NotFound, UserError
from mmeops.extract import run as extract
from mmeops.images import xgboost_image
from mmeops.tune import history, local, sagemaker, warmstart
from mmeops.tune import recalibrate as recalibration
from mmeops.tune.backend import Backend, Dataset, Job, Progress
from mmeops.tune.history import TuningRecord

# The backends, by the name `--backend` takes; each implements backend.Backend.
BACKENDS: dict[str, Backend] = {"local": local, "sagemaker": sagemaker}
JOB_NAME_MAX = 32  # SageMaker's limit for tuning job names
PREFIX_MAX = 14  # leaves room for -YYMMDDHHMMSS-xxxx


class TuningFailed(MmeopsError):
    """The tuning job ran and failed; its record (status Failed) is in the history."""


@dataclass(frozen=True)
class TuneResult:
    record: TuningRecord
    warm_start: warmstart.WarmStart
    n_prior_trials: int = 0  # parent trials the local study started with


def job_prefix(model: str) -> str:
    return model[:PREFIX_MAX].rstrip("-")


def new_job_name(model: str, now: dt.datetime) -> str:
    name = f"{job_prefix(model)}-{now:%y%m%d%H%M%S}-{secrets.token_hex(2)}"
    assert len(name) <= JOB_NAME_MAX
    return name


def resolve_dataset(aws: Aws, bucket: str, model: str, run_id: str | None) -> Dataset:
    """The dataset to tune on (the newest when `run_id` is None) and its sha256."""
    if run_id is None:
        run_id = extract.latest_run_id(aws, bucket, model)
        if run_id is None:
            raise UserError(
                f"no dataset for {model} in s3://{bucket}/datasets/{model}/; "
                f"run `mmeops extract {model}` first"
            )
    paths = extract.dataset_paths(bucket, model, run_id)
    try:
        lineage, _ = jsonl.read_object(
            aws, *split_s3_uri(paths.lineage), "dataset lineage", f"run `mmeops extract {model}`"
        )
    except NotFound:
        raise UserError(
            f"dataset {run_id} of {model} not found (no {paths.lineage}); "
            f"run `mmeops extract {model}` or pick an existing --dataset"
        ) from None
    sha = str(lineage.get("dataset_sha256", ""))
    return Dataset(run_id, sha, paths.train, paths.validation)


def _today(cfg: ModelConfig, ds: Dataset | None, backend: str) -> warmstart.Today:
    return warmstart.Today(
        model=cfg.name,
        objective=str(cfg.xgboost.static_hyperparameters.get("objective", "")),
        eval_metric=cfg.tuning.objective_metric,
        ranges=_ranges(cfg),
        static_hyperparameters=dict(cfg.xgboost.static_hyperparameters),
        dataset_sha256=ds.sha256 if ds else "",  # None: not extracted yet (decide_parents)
        image_version=cfg.xgboost.image_version,
        backend=backend,
        max_parents=cfg.tuning.max_parents,
    )


def _ranges(cfg: ModelConfig) -> dict[str, dict[str, Any]]:
    return {name: r.model_dump(exclude_none=True) for name, r in cfg.tuning.ranges.items()}


@dataclass(frozen=True)
class Preflight:
    """What a tune needs settled before anything is written: the config, the number of
    training jobs and, for SageMaker, the training image."""

    cfg: ModelConfig
    n_jobs: int
    image: str | None


def preflight(
    repo: Repo,
    model_name: str,
    backend: str,
    testing: bool,
    max_jobs: int | None,
    recalibrate: bool = False,
) -> Preflight:
    """Every refusal known before any data moves (`retrain` calls this before it extracts)."""
    cfg = repo.model(model_name)
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if max_jobs is not None and max_jobs < 1:
        raise UserError(f"--max-jobs must be at least 1 (got {max_jobs})")
    if recalibrate:  # the backend it needs, and a served version with hyperparameters
        recalibration.plan(repo, model_name, backend)
    image = None
    if backend == "local":
        artifact.check_version(repo, model_name)
    else:
        image = _training_image(repo, cfg)
    # A testing run is exactly one training job, whatever else was asked.
    return Preflight(cfg, 1 if testing else (max_jobs or cfg.tuning.max_jobs), image)


def _training_image(repo: Repo, cfg: ModelConfig) -> str:
    region = repo.settings.training.region
    try:
        return xgboost_image(region, cfg.xgboost.image_version)
    except ValueError as e:
        source = repo.model_source(cfg.name)
        raise UserError(
            f"no built-in XGBoost image {cfg.xgboost.image_version} in {region}: {e}",
            source.path,
            source.line("xgboost", "image_version"),
        ) from None


def decide_parents(repo: Repo, model_name: str, backend: str) -> warmstart.WarmStart:
    """The warm-start parents today's config allows, decided before any dataset exists
    (retrain's preflight, before the extract uploads anything): which parents SageMaker
    accepts (static and tunable names, types, objective) never depends on the data; only the
    warm-start type does, and `tune` sets it from the new dataset's sha256."""
    cfg, settings = repo.model(model_name), repo.settings
    aws = for_account(
        settings.training.account_id, settings.training.region, settings.training.role_arn
    )
    return warmstart.choose(
        history.read(aws, settings.bucket, model_name), _today(cfg, None, backend)
    )


def tune(
    repo: Repo,
    model_name: str,
    *,
    dataset: str | None = None,
    backend: str = "local",
    testing: bool = False,
    max_jobs: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    resume: bool = False,
    recalibrate: bool = False,
    parents: tuple[str, ...] | None = None,
) -> TuneResult:
    """Tune `model_name` on a dataset (the newest by default), warm-started when it can be.
    With `resume`, a SageMaker job of this model still InProgress in the history (its runner
    died, or its credentials expired) is waited for instead of starting another;
    `recalibrate`: one training job with the champion's hyperparameters instead of a search;
    `parents`: the warm-start parents `decide_parents` chose (None: choose now)."""
    checked = preflight(repo, model_name, backend, testing, max_jobs)
    cfg, n_jobs = checked.cfg, checked.n_jobs
    settings = repo.settings
    aws = for_account(
        settings.training.account_id, settings.training.region, settings.training.role_arn
    )
    if resume and backend == "sagemaker":
        pending = [r for r in history.read(aws, settings.bucket, model_name)
                   if r.status == history.IN_PROGRESS and r.backend == "sagemaker"]  # fmt: skip
        if pending:
            return attach(repo, model_name, pending[-1].job_name, progress=progress)
    ds = resolve_dataset(aws, settings.bucket, model_name, dataset)
    today = _today(cfg, ds, backend)
    records = history.read(aws, settings.bucket, model_name)
    if parents is not None:  # decided before the extract (retrain): the same parents now
        records = [r for r in records if r.job_name in parents]
    plan = warmstart.choose(records, today)
    if recalibrate:
        plan, n_jobs = recalibration.plan(repo, model_name, backend), 1
    now = dt.datetime.now(dt.timezone.utc)
    base = {
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "job_name": new_job_name(model_name, now),
        "model": model_name,
        "prefix": job_prefix(model_name),
        "objective": today.objective,
        "eval_metric": today.eval_metric,
        "dataset_run_id": ds.run_id,
        "dataset_sha256": ds.sha256,
        "backend": backend,
        "testing": testing,
        "ranges": today.ranges,
        "static_hyperparameters": today.static_hyperparameters,
        "parents": plan.parent_names,
        "warm_start_type": plan.type,
        "image_version": cfg.xgboost.image_version,
    }
    job = Job(aws, repo, cfg, ds, plan, base, n_jobs, checked.image, progress)
    n_prior = 0
    if recalibrate:  # one training job with the champion's hyperparameters
        record = BACKENDS[backend].recalibrate(job)
    else:
        record, n_prior = BACKENDS[backend].search(job)
    history.append(aws, settings.bucket, record, kms_key_id=settings.kms_key_id)
    if record.status not in history.USABLE:
        raise TuningFailed(f"tuning job {record.job_name} failed: {record.failure_reason}")
    return TuneResult(record, plan, n_prior)


def attach(
    repo: Repo,
    model_name: str,
    job: str,
    *,
    progress: Callable[[Progress], None] | None = None,
) -> TuneResult:
    """Wait again for a SageMaker tuning job an earlier run created and did not see end (its
    runner died, or its credentials expired), then record its end as `tune` would have."""
    cfg = repo.model(model_name)
    settings = repo.settings
    aws = for_account(
        settings.training.account_id, settings.training.region, settings.training.role_arn
    )
    started = next((r for r in history.read(aws, settings.bucket, model_name)
                    if r.job_name == job), None)  # fmt: skip
    if started is None:
        raise UserError(
            f"tuning job {job} not found in the history of {model_name}; "
            "`mmeops tune` prints the job names"
        )
    if started.status != history.IN_PROGRESS:
        raise UserError(f"tuning job {job} already ended ({started.status}); nothing to attach to")
    record = sagemaker.wait(
        aws,
        started,
        sagemaker.deadline(cfg, started.n_training_jobs),
        sagemaker.on_status(progress, started.n_training_jobs),
    )
    history.append(aws, settings.bucket, record, kms_key_id=settings.kms_key_id)
    if record.status not in history.USABLE:
        raise TuningFailed(f"tuning job {record.job_name} failed: {record.failure_reason}")
    how = f"{record.warm_start_type} from {', '.join(record.parents)}" if record.parents else "cold"
    return TuneResult(record, warmstart.WarmStart(record.warm_start_type, (), f"attached ({how})"))


def summary_markdown(result: TuneResult) -> str:
    """The job summary: status first (a warning heading when every trial tied at a saturated
    metric), details below."""
    from mmeops.tune.sanity import saturated

    r = result.record
    start = (
        f"{r.warm_start_type} from {', '.join(r.parents)}"
        if r.parents
        else result.warm_start.reason
    )
    warning = saturated(r.eval_metric, [t["value"] for t in r.trials])
    icon = "⚠️ " if warning else ""
    return "\n".join(
        [
            f"### {icon}Tuned {r.model}: {r.eval_metric} = {r.best_value:.6g}",
            "",
            *([f"> ⚠️ {warning}", ""] if warning else []),
            "| | |",
            "|---|---|",
            f"| job | `{r.job_name}` ({r.backend}{', testing' if r.testing else ''}) |",
            f"| warm start | {start} |",
            f"| trials | {r.n_training_jobs} |",
            f"| dataset | `{r.dataset_run_id}` (sha256 `{r.dataset_sha256[:12]}`) |",
            f"| artifact | `{r.artifact_uri}` |",
        ]
    )
