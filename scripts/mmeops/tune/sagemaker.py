"""The sagemaker backend's side of `tune`: a tuning job (or, to recalibrate, one training
job) created with boto3 from the model's config, waited for, and recorded with only what it
produced. The requests are built in tune_sagemaker.py and train_sagemaker.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from mmeops import artifact
from mmeops.aws import Aws
from mmeops.config.kinds import ModelConfig
from mmeops.config.repo import Repo
from mmeops.tune import history, warmstart
from mmeops.tune import training_job as train_sagemaker
from mmeops.tune import tuning_job as tune_sagemaker
from mmeops.tune.backend import Dataset, Job, Progress
from mmeops.tune.history import TuningRecord


def run(
    aws: Aws,
    repo: Repo,
    cfg: ModelConfig,
    ds: Dataset,
    plan: warmstart.WarmStart,
    base: dict,
    image: str | None,
    n_jobs: int,
    on_status: tune_sagemaker.OnStatus | None = None,
) -> TuningRecord:
    """Create the tuning job, record it InProgress, wait for it and return its end."""
    bucket = repo.settings.bucket
    request = tune_sagemaker.build_request(
        job_name=base["job_name"],
        objective_metric=cfg.tuning.objective_metric,
        direction=cfg.tuning.direction,
        max_jobs=n_jobs,
        max_parallel_jobs=cfg.tuning.max_parallel_jobs,
        ranges=base["ranges"],
        static=base["static_hyperparameters"],
        parents=plan.parent_names,
        warm_start_type=plan.type,
        tuning_max_runtime_seconds=cfg.tuning.max_runtime_seconds,
        **_definition(repo, cfg, ds, base, image),
    )
    tune_sagemaker.create(aws, request)
    # Recorded before the wait: a runner that dies (or whose credentials expire) while the
    # job runs leaves a record that `mmeops tune MODEL --attach JOB` picks up again.
    started = TuningRecord(
        **base, best_value=None, n_training_jobs=n_jobs, status=history.IN_PROGRESS
    )
    history.append(aws, bucket, started, kms_key_id=repo.settings.kms_key_id)
    return wait(aws, started, deadline(cfg, n_jobs), on_status)


def deadline(cfg: ModelConfig, n_jobs: int) -> float:
    return tune_sagemaker.deadline_seconds(
        n_jobs,
        cfg.tuning.max_parallel_jobs,
        cfg.training_max_runtime_seconds,
        cfg.tuning.max_runtime_seconds,
    )


def wait(
    aws: Aws,
    started: TuningRecord,
    seconds: float,
    on_status: tune_sagemaker.OnStatus | None = None,
) -> TuningRecord:
    """The end of the tuning job `started` records, as its history record."""
    outcome = tune_sagemaker.attach(aws, started.job_name, deadline=seconds, on_status=on_status)
    return record(_base_of(started), outcome)


def _base_of(record: TuningRecord) -> dict:
    """The fields a record has from its start (what the job was asked to do)."""
    results = {"best_value", "n_training_jobs", "status", "best_hyperparameters",
               "artifact_uri", "xgboost_version", "trials", "failure_reason"}  # fmt: skip
    return {k: v for k, v in asdict(record).items() if k not in results}


def recalibrate_job(
    aws: Aws,
    repo: Repo,
    cfg: ModelConfig,
    ds: Dataset,
    plan: warmstart.WarmStart,
    base: dict,
    image: str | None,
) -> TuningRecord:
    """One SageMaker training job with the champion's hyperparameters (no search)."""
    fixed = {**base["static_hyperparameters"], **plan.parents[0].best_hyperparameters}
    request = train_sagemaker.build_request(
        job_name=base["job_name"],
        hyperparameters=fixed,
        objective_metric=cfg.tuning.objective_metric,
        **_definition(repo, cfg, ds, base, image),
    )
    trained = train_sagemaker.run(aws, request, cfg.tuning.objective_metric)
    trials = [] if trained.value is None else [{"hyperparameters": fixed, "value": trained.value}]
    return TuningRecord(
        **base,
        best_value=trained.value,
        n_training_jobs=1,
        status=trained.status,
        best_hyperparameters=dict(plan.parents[0].best_hyperparameters),
        artifact_uri=trained.artifact_uri,
        xgboost_version=artifact.serving_version(base["image_version"]),
        trials=trials,
        failure_reason=trained.failure_reason,
    )


def _definition(repo: Repo, cfg: ModelConfig, ds: Dataset, base: dict, image: str | None) -> dict:
    """What a SageMaker training job of this model runs on (tune_sagemaker's definition)."""
    assert image is not None, "tune's preflight resolves the image for the sagemaker backend"
    return {
        "image": image,
        "role_arn": repo.settings.training.execution_role_arn,
        "instance_type": cfg.training_instance_type,
        "train_uri": ds.train_uri,
        "validation_uri": ds.validation_uri,
        "output_path": f"s3://{repo.settings.bucket}/tuning/{cfg.name}/{base['job_name']}/output/",
        "kms_key_id": repo.settings.kms_key_id,
        "volume_gb": cfg.training_volume_gb,
        "max_runtime_seconds": cfg.training_max_runtime_seconds,
    }


def record(base: dict, outcome: tune_sagemaker.Outcome) -> TuningRecord:
    """The history record of an ended SageMaker tuning job: only what it really produced.
    Its model was trained by the image's xgboost, so the image's release line is the version
    recorded (what register checks against the serving image)."""
    return TuningRecord(
        **base,
        best_value=outcome.best_value,
        n_training_jobs=outcome.n_training_jobs,
        status=outcome.status,
        best_hyperparameters=outcome.best_hyperparameters,
        artifact_uri=outcome.artifact_uri,
        xgboost_version=artifact.serving_version(base["image_version"]),
        trials=[{"hyperparameters": t.hyperparameters, "value": t.value} for t in outcome.trials],
        failure_reason=outcome.failure_reason,
    )


# --- the backend interface (backend.Backend) ------------------------------------------------


def search(job: Job) -> tuple[TuningRecord, int]:
    """A SageMaker tuning job (no prior trials: SageMaker warm-starts from the parents)."""
    on = on_status(job.progress, job.n_jobs)
    record = run(job.aws, job.repo, job.cfg, job.ds, job.plan, job.base, job.image, job.n_jobs, on)
    return record, 0


def recalibrate(job: Job) -> TuningRecord:
    return recalibrate_job(job.aws, job.repo, job.cfg, job.ds, job.plan, job.base, job.image)


def on_status(progress: Callable[[Progress], None] | None, n_jobs: int):
    """Turn the tuning job's counts into tune's Progress."""

    def on_counts(completed: int, running: int, failed: int) -> None:
        if progress is not None:
            progress(Progress(completed, running, failed, n_jobs))

    return on_counts
