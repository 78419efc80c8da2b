"""One SageMaker training job with fixed hyperparameters (a recalibration: no search), and a
wait. The job is the tuning jobs' training definition with its hyperparameters fixed, so a
recalibrated model is trained exactly as a tuning trial would have been.

`eval_metric` is set to the tuning objective's metric: outside a tuning job the built-in
XGBoost algorithm stops early on the last `eval_metric` (inside one, on the objective), so the
metric that stops training and the one recorded are the tuning job's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmeops import waiting
from mmeops.aws import Aws
from mmeops.errors import AwsError
from mmeops.tune import tuning_job as tune_sagemaker

# TrainingJobStatus (botocore's service model): where waiting ends.
ENDED = {"Completed", "Failed", "Stopped"}
WAITING = {"InProgress", "Stopping", "Deleting"}


@dataclass(frozen=True)
class Trained:
    status: str  # Completed or Failed
    value: float | None  # the objective metric's final value
    artifact_uri: str | None
    failure_reason: str | None


def build_request(
    *, job_name: str, hyperparameters: Mapping[str, Any], objective_metric: str, **definition
) -> dict[str, Any]:
    """CreateTrainingJob's parameters: the tuning jobs' training definition (`definition`:
    image, role, channels, output, resources, stopping condition) with fixed hyperparameters."""
    fixed = {k: str(v) for k, v in hyperparameters.items()}
    fixed.setdefault("eval_metric", objective_metric.split(":", 1)[1])
    return {
        "TrainingJobName": job_name,
        "HyperParameters": dict(sorted(fixed.items())),
        **tune_sagemaker.training_definition(**definition),
    }


def run(aws: Aws, request: dict[str, Any], objective_metric: str) -> Trained:
    """Create the training job, wait for it to end, and read what it produced."""
    name = request["TrainingJobName"]
    aws.call("sagemaker", "create_training_job", **request)
    status = ""

    def step() -> dict | None:
        nonlocal status
        described = aws.call("sagemaker", "describe_training_job", TrainingJobName=name)
        status = described["TrainingJobStatus"]
        if status in ENDED:
            return described
        if status not in WAITING:
            raise AwsError("describe_training_job", status, f"training job {name} is {status}")
        return None

    described = waiting.poll(
        step,
        seconds=request["StoppingCondition"]["MaxRuntimeInSeconds"] + 3600.0,
        first=waiting.sagemaker_seconds(tune_sagemaker.FIRST_POLL_SECONDS),
        cap=waiting.sagemaker_seconds(tune_sagemaker.POLL_SECONDS),
        late=lambda: AwsError(
            "describe_training_job", "Timeout", f"training job {name} is still {status}"
        ),
    )
    return _trained(described, objective_metric)


def _trained(described: dict, objective_metric: str) -> Trained:
    """Only what the job produced: a Completed job's artifact and objective value."""
    values = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []}
    artifact = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if described["TrainingJobStatus"] != "Completed" or not artifact:
        reason = described.get("FailureReason") or f"ended {described['TrainingJobStatus']}"
        return Trained("Failed", None, None, reason)
    if objective_metric not in values:
        return Trained("Failed", None, None, f"the job reported no {objective_metric}")
    return Trained("Completed", float(values[objective_metric]), artifact, None)
