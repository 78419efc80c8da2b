"""The sagemaker backend: a real hyperparameter tuning job (Bayesian, warm-started) and a wait.

The request is what every SageMaker SDK sends underneath; botocore validates it against the
service model on the way out. The training image is the built-in XGBoost image of the
configured version for the region (mmeops.images: sagemaker-core's registry data, offline).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmeops import waiting
from mmeops.aws import Aws
from mmeops.errors import AwsError, MmeopsError, NotFound
from mmeops.tune.warmstart import IDENTICAL

# HyperParameterTuningJobStatus (botocore's service model): where waiting ends, and where it
# goes on. A Stopped job with a completed best training job is a usable result.
TERMINAL = {"Completed", "Failed", "Stopped", "DeleteFailed"}
WAITING = {"InProgress", "Stopping", "Deleting"}
USABLE = {"Completed", "Stopped"}
# Pauses between two describes, in SageMaker seconds (waiting.sagemaker_seconds: the embedded
# stack shortens them as it shortens its jobs). The SageMaker SDK polls a tuning or training
# job every 5 s (sagemaker/session.py: wait_for_tuning_job(job, poll=5), wait_for_job(job,
# poll=5)); ours start at 1 s, for a job that ends early (a failure, a stop), and double to
# 30 s: a job of 12 trainings takes tens of minutes, a few calls more per minute buy nothing.
FIRST_POLL_SECONDS = 1.0
POLL_SECONDS = 30.0

# (completed, running, failed) training jobs so far
OnStatus = Callable[[int, int, int], None]


def parameter_ranges(ranges: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict]]:
    """model.yaml ranges in the request's shape (every number a string, as the API wants)."""
    out: dict[str, list[dict]] = {
        "ContinuousParameterRanges": [],
        "IntegerParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for name, spec in sorted(ranges.items()):
        if spec["type"] == "categorical":
            out["CategoricalParameterRanges"].append(
                {"Name": name, "Values": [str(v) for v in spec["values"]]}
            )
            continue
        number = int if spec["type"] == "integer" else float
        kind = (
            "IntegerParameterRanges" if spec["type"] == "integer" else "ContinuousParameterRanges"
        )
        out[kind].append(
            {
                "Name": name,
                "MinValue": str(number(spec["min"])),
                "MaxValue": str(number(spec["max"])),
                "ScalingType": spec.get("scaling", "Auto"),
            }
        )
    return out


def _channel(name: str, uri: str) -> dict:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def training_definition(
    *,
    image: str,
    role_arn: str,
    instance_type: str,
    train_uri: str,
    validation_uri: str,
    output_path: str,
    kms_key_id: str | None = None,
    volume_gb: int = 30,
    max_runtime_seconds: int = 86400,
) -> dict[str, Any]:
    """What every training job of ours runs on: the built-in image, the two CSV channels,
    where the artifact goes, the instance and the time limit (a tuning job's
    TrainingJobDefinition and a CreateTrainingJob request share these members)."""
    output: dict[str, Any] = {"S3OutputPath": output_path}
    if kms_key_id:
        output["KmsKeyId"] = kms_key_id
    return {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "InputDataConfig": [_channel("train", train_uri), _channel("validation", validation_uri)],
        "OutputDataConfig": output,
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
    }


def build_request(
    *,
    job_name: str,
    objective_metric: str,
    direction: str,
    max_jobs: int,
    max_parallel_jobs: int,
    ranges: Mapping[str, Mapping[str, Any]],
    static: Mapping[str, Any],
    parents: Sequence[str] = (),
    warm_start_type: str | None = None,
    tuning_max_runtime_seconds: int | None = None,
    **definition: Any,
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob's parameters (`definition`: training_definition's)."""
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": objective_metric},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": max_jobs,
                "MaxParallelTrainingJobs": min(max_parallel_jobs, max_jobs),
                **(
                    {"MaxRuntimeInSeconds": tuning_max_runtime_seconds}
                    if tuning_max_runtime_seconds
                    else {}
                ),
            },
            "ParameterRanges": parameter_ranges(ranges),
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {k: str(v) for k, v in sorted(static.items())},
            **training_definition(**definition),
        },
    }
    if parents:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": name} for name in parents
            ],
            "WarmStartType": warm_start_type,
        }
    return request


@dataclass(frozen=True)
class Trial:
    """One training job of the tuning job that reported its objective."""

    training_job: str
    hyperparameters: dict[str, str]
    value: float


@dataclass(frozen=True)
class Outcome:
    status: str  # Completed, Stopped (both usable when a best job exists) or Failed
    n_training_jobs: int
    best_value: float | None
    best_training_job: str | None
    best_hyperparameters: dict[str, str]
    artifact_uri: str | None
    failure_reason: str | None
    trials: tuple[Trial, ...] = ()


class StillRunning(MmeopsError):
    """The deadline passed while the tuning job was still running; it goes on in SageMaker
    and `mmeops tune MODEL --attach JOB` picks it up again."""


def _counts(description: dict) -> tuple[int, int, int]:
    c = description.get("TrainingJobStatusCounters", {})
    failed = c.get("RetryableError", 0) + c.get("NonRetryableError", 0) + c.get("Stopped", 0)
    return c.get("Completed", 0), c.get("InProgress", 0), failed


def deadline_seconds(
    max_jobs: int,
    max_parallel_jobs: int,
    max_runtime_seconds: int,
    tuning_max_runtime_seconds: int | None = None,
) -> float:
    """How long a tuning job may take before waiting for it is pointless: every wave of
    parallel training jobs at its full MaxRuntimeInSeconds, plus an hour for SageMaker's own
    provisioning and bookkeeping; but never beyond the tuning job's own limit (SageMaker stops
    it there) plus ten minutes for the stop (12 jobs at 24 h each once gave 145 h for a job
    that ran in a 6 h runner)."""
    waves = math.ceil(max_jobs / min(max_parallel_jobs, max_jobs))
    by_waves = waves * max_runtime_seconds + 3600.0
    if tuning_max_runtime_seconds is None:
        return by_waves
    return min(by_waves, tuning_max_runtime_seconds + 600.0)


def wait(aws: Aws, name: str, *, deadline: float, on_status: OnStatus | None = None) -> dict:
    """Poll the tuning job until it ends (Completed, Stopped or Failed) and return its
    description. Stopping and Deleting are passing states; DeleteFailed ends it too."""
    status = ""

    def step() -> dict | None:
        nonlocal status
        described = aws.call(
            "sagemaker", "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name
        )
        if on_status is not None:
            on_status(*_counts(described))
        status = described["HyperParameterTuningJobStatus"]
        if status in TERMINAL:
            return described
        if status not in WAITING:
            raise AwsError(
                "describe_hyper_parameter_tuning_job",
                status,
                f"tuning job {name} is {status}: {described.get('FailureReason', 'no reason')}",
            )
        return None

    return waiting.poll(
        step,
        seconds=deadline,
        first=waiting.sagemaker_seconds(FIRST_POLL_SECONDS),
        cap=waiting.sagemaker_seconds(POLL_SECONDS),
        late=lambda: StillRunning(
            f"tuning job {name} is still {status} after {deadline:.0f}s; it goes on in "
            f"SageMaker: `mmeops tune MODEL --attach {name}` waits for it again"
        ),
    )


def best_job(described: dict) -> dict:
    """The best training job to take: after an identical-data warm start SageMaker may find
    that a parent's job is the best overall (`OverallBestTrainingJob`); it was trained on the
    same data with the same algorithm, so it is the right result."""
    best = described.get("BestTrainingJob") or {}
    warm = described.get("WarmStartConfig") or {}
    overall = described.get("OverallBestTrainingJob")
    if overall and warm.get("WarmStartType") == IDENTICAL:
        return overall
    return best


def trials(aws: Aws, name: str) -> tuple[Trial, ...]:
    """Every training job of the tuning job that reported its objective (what later local
    warm starts may use as prior observations)."""
    found = []
    for job in aws.paginate(
        "sagemaker",
        "list_training_jobs_for_hyper_parameter_tuning_job",
        "TrainingJobSummaries",
        HyperParameterTuningJobName=name,
    ):
        metric = job.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        if job.get("TrainingJobStatus") == "Completed" and "Value" in metric:
            found.append(
                Trial(
                    job["TrainingJobName"],
                    dict(job.get("TunedHyperParameters") or {}),
                    float(metric["Value"]),
                )
            )
    return tuple(found)


def trial_failures(aws: Aws, name: str) -> str:
    """Why the tuning job's training jobs failed, each distinct FailureReason once with how
    many jobs gave it: the tuning job's own reason ("No training job succeeded with an
    objective metric value") never says why, and the cause (e.g. the container refusing the
    data) is the same for every trial."""
    reasons: dict[str, int] = {}
    for job in aws.paginate(
        "sagemaker",
        "list_training_jobs_for_hyper_parameter_tuning_job",
        "TrainingJobSummaries",
        HyperParameterTuningJobName=name,
    ):
        if job.get("TrainingJobStatus") == "Failed":
            # One line: a container's reason often carries a multi-line exception.
            reason = " ".join((job.get("FailureReason") or "no FailureReason given").split())
            reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return ""
    listed = "; ".join(f"{r} ({n} job{'s' * (n > 1)})" for r, n in reasons.items())
    return f"; its training jobs failed: {listed}"


def _artifact_uri(aws: Aws, job: str) -> str | None:
    """Where the training job wrote its model.tar.gz, when it did."""
    try:
        described = aws.call("sagemaker", "describe_training_job", TrainingJobName=job)
    except NotFound:
        return None
    if described.get("TrainingJobStatus") != "Completed":
        return None
    return (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or None


def outcome(aws: Aws, described: dict) -> Outcome:
    """What the ended tuning job produced: a usable best artifact (Completed, or Stopped with a
    completed best job) or a failure with SageMaker's reason. Nothing it did not produce."""
    name = described["HyperParameterTuningJobName"]
    status = described["HyperParameterTuningJobStatus"]
    completed, running, failed = _counts(described)
    best = best_job(described)
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    job = best.get("TrainingJobName")
    artifact = _artifact_uri(aws, job) if job and status in USABLE and "Value" in metric else None
    if artifact is None:
        reason = described.get("FailureReason") or (
            f"tuning job ended {status} without a completed best training job"
            if not job
            else f"tuning job ended {status}; its best training job {job} has no model artifact"
        )
        if failed:
            reason += trial_failures(aws, name)
        return Outcome("Failed", completed + running + failed, None, None, {}, None, reason)
    return Outcome(
        status=status,
        n_training_jobs=completed + running + failed,
        best_value=float(metric["Value"]),
        best_training_job=job,
        best_hyperparameters=dict(best.get("TunedHyperParameters") or {}),
        artifact_uri=artifact,
        failure_reason=None,
        trials=trials(aws, name),
    )


def create(aws: Aws, request: dict[str, Any]) -> None:
    aws.call("sagemaker", "create_hyper_parameter_tuning_job", **request)


def attach(aws: Aws, name: str, *, deadline: float, on_status: OnStatus | None = None) -> Outcome:
    """Wait for a tuning job (one this run created, or one a runner that died left behind)
    to end and read what it produced."""
    return outcome(aws, wait(aws, name, deadline=deadline, on_status=on_status))
