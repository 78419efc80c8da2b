"""The sagemaker backend: a real hyperparameter tuning job (Bayesian, warm-started) and a wait.

The request is what every SageMaker SDK sends underneath; botocore validates it against the
service model on the way out. The training image is the built-in XGBoost image of the
configured version for the region (sagemaker-core knows the registry accounts, offline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmeops.aws import Aws
from mmeops.errors import AwsError

TERMINAL = {"Completed", "Failed", "Stopped"}
POLL_SECONDS = 30
MAX_RUNTIME_SECONDS = 3600
VOLUME_GB = 10

# (completed, running, failed) training jobs so far
OnStatus = Callable[[int, int, int], None]


def training_image(region: str, image_version: str) -> str:
    from sagemaker.core import image_uris  # imported here: it is slow to import

    return image_uris.retrieve("xgboost", region, image_version)


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


def build_request(
    *,
    job_name: str,
    image: str,
    role_arn: str,
    instance_type: str,
    objective_metric: str,
    direction: str,
    max_jobs: int,
    max_parallel_jobs: int,
    ranges: Mapping[str, Mapping[str, Any]],
    static: Mapping[str, Any],
    train_uri: str,
    validation_uri: str,
    output_path: str,
    parents: Sequence[str] = (),
    warm_start_type: str | None = None,
    kms_key_id: str | None = None,
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob's parameters."""
    output: dict[str, Any] = {"S3OutputPath": output_path}
    if kms_key_id:
        output["KmsKeyId"] = kms_key_id
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": objective_metric},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": max_jobs,
                "MaxParallelTrainingJobs": min(max_parallel_jobs, max_jobs),
            },
            "ParameterRanges": parameter_ranges(ranges),
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {k: str(v) for k, v in sorted(static.items())},
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "RoleArn": role_arn,
            "InputDataConfig": [
                _channel("train", train_uri),
                _channel("validation", validation_uri),
            ],
            "OutputDataConfig": output,
            "ResourceConfig": {
                "InstanceType": instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": VOLUME_GB,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
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
class Outcome:
    status: str
    n_training_jobs: int
    best_value: float | None
    best_training_job: str | None
    best_hyperparameters: dict[str, str]
    artifact_uri: str | None
    failure_reason: str | None


def _counts(description: dict) -> tuple[int, int, int]:
    c = description.get("TrainingJobStatusCounters", {})
    failed = c.get("RetryableError", 0) + c.get("NonRetryableError", 0) + c.get("Stopped", 0)
    return c.get("Completed", 0), c.get("InProgress", 0), failed


def _artifact_uri(aws: Aws, job: str, output_path: str) -> str:
    """Where the best training job wrote its model.tar.gz."""
    try:
        described = aws.call("sagemaker", "describe_training_job", TrainingJobName=job)
        uri = described.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        if uri:
            return uri
    except AwsError:
        pass  # the tuning job named it, so fall back on SageMaker's fixed layout
    return f"{output_path.rstrip('/')}/{job}/output/model.tar.gz"


def run(
    aws: Aws,
    request: dict[str, Any],
    *,
    on_status: OnStatus | None = None,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Create the tuning job and wait for it to finish."""
    name = request["HyperParameterTuningJobName"]
    aws.call("sagemaker", "create_hyper_parameter_tuning_job", **request)
    while True:
        described = aws.call(
            "sagemaker", "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name
        )
        completed, running, failed = _counts(described)
        if on_status is not None:
            on_status(completed, running, failed)
        status = described["HyperParameterTuningJobStatus"]
        if status in TERMINAL:
            break
        sleep(poll_seconds)
    best = described.get("BestTrainingJob") or {}
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    best_job = best.get("TrainingJobName")
    artifact = None
    if status == "Completed" and best_job:
        output_path = request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
        artifact = _artifact_uri(aws, best_job, output_path)
    return Outcome(
        status="Completed" if status == "Completed" and best_job else "Failed",
        n_training_jobs=completed + running + failed,
        best_value=float(metric["Value"]) if "Value" in metric else None,
        best_training_job=best_job,
        best_hyperparameters=dict(best.get("TunedHyperParameters") or {}),
        artifact_uri=artifact,
        failure_reason=described.get("FailureReason")
        or (None if status == "Completed" and best_job else f"tuning job ended {status}"),
    )
