"""A SageMaker training job of the built-in XGBoost algorithm that really trains: its thread
does what AWS shows, and the algorithm runs in a worker process (`training_pool`) when one is free.

The job reads its channels from the embedded S3 of the account that created it, trains with
the installed xgboost (`xgboost_algorithm`), writes `model.tar.gz` to
`<S3OutputPath><job name>/output/model.tar.gz` and moves through the statuses SageMaker
reports: InProgress (Starting, Downloading, Training, Uploading) then Completed, Failed or
Stopped (MaxRuntimeExceeded when StoppingCondition.MaxRuntimeInSeconds runs out).

Time: training takes its real time; the phases SageMaker spends provisioning and moving data
are slept, scaled by `time_scale()` (env MMEOPS_STACK_TIME_SCALE, default 0.0002, so the
90 s SageMaker takes to start an instance last 18 ms; tests that need slow jobs set their own
scale). MaxRuntimeInSeconds counts SageMaker
seconds (`Clock`): those phases at their full length plus the training's real time, so a
limit that AWS would hit is hit here too, at any scale.
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.utils import utcnow
from moto.s3.models import FakeDeleteMarker, s3_backends
from moto.sagemaker.utils import arn_formatter
from moto.utilities.utils import get_partition

from mmeops.stack import training_pool
from mmeops.stack import xgboost_algorithm as algorithm
from mmeops.stack.iam import service

TIME_SCALE_ENV = "MMEOPS_STACK_TIME_SCALE"
# 0.0002: a job's 105 s of SageMaker phases last 21 ms, less than its training (at 0.002
# they were 0.21 s, twice the training: benchmarks/production_path.py, docs/performance.md).
DEFAULT_TIME_SCALE = 0.0002
# Seconds SageMaker spends before and after the algorithm runs (order of magnitude of what
# its consoles show for a small CPU job); scaled before they are slept.
PHASES = {"Starting": 90.0, "Downloading": 10.0, "Uploading": 5.0}
_IMAGE = re.compile(
    r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/sagemaker-xgboost:(.+)$"
)


def time_scale() -> float:
    """Emulated seconds per real second's worth of SageMaker waiting (read on each use)."""
    raw = os.environ.get(TIME_SCALE_ENV, "")
    try:
        return max(float(raw), 0.0) if raw else DEFAULT_TIME_SCALE
    except ValueError:
        return DEFAULT_TIME_SCALE


class Clock:
    """The SageMaker seconds a job has spent: the phases SageMaker spends outside the algorithm
    at their full length (slept scaled by `time_scale()`), the algorithm as long as it really
    runs. `limits` maps why a job ends early to the SageMaker seconds it may spend."""

    def __init__(self, limits: dict[str, float]):
        self.limits = limits
        self.spent = 0.0

    def remaining(self) -> float:
        return min(self.limits.values(), default=math.inf) - self.spent

    def over(self) -> str | None:
        """The first limit reached, if any."""
        reached = [why for why, limit in self.limits.items() if self.spent >= limit]
        return min(reached, key=self.limits.__getitem__) if reached else None


@functools.lru_cache(maxsize=64)
def _builtin_image(region: str, version: str) -> str | None:
    """sagemaker-core's URI of the built-in XGBoost image (each look-up reads its JSON)."""
    from sagemaker.core import image_uris  # slow import: only when a job starts

    try:
        return image_uris.retrieve("xgboost", region, version)
    except ValueError:
        return None


def image_problem(image: str, region: str) -> str | None:
    """Why the stack cannot run `image` as the built-in XGBoost algorithm, or None. The
    image must be the one sagemaker-core names for its version in this region, and its
    version line must be the installed xgboost's (the stack trains with that library)."""
    match = _IMAGE.match(image)
    if match is None:
        return (
            f"{image} is not a built-in SageMaker XGBoost image; the embedded stack runs only those"
        )
    version = match.group(3)
    expected = _builtin_image(region, version)
    if expected is None:
        return f"{image}: XGBoost version {version} is not a built-in image version"
    if expected != image:
        return f"{image} is not the built-in XGBoost image of {region} (expected {expected})"
    import xgboost

    installed = ".".join(xgboost.__version__.split(".")[:2])
    if version.split("-")[0] != installed:
        return (
            f"image version {version} differs from the embedded stack's xgboost "
            f"{xgboost.__version__}; use the {installed}-* image"
        )
    return None


def _s3(account_id: str, region: str):
    return s3_backends[account_id][get_partition(region)]


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise algorithm.ClientError(f"Invalid S3 URI {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _own_bucket(account_id: str, region: str, name: str, step: str = "Data download"):
    """The bucket, if the job's account owns it. Moto would hand out any account's bucket
    (it enforces no bucket policy); AWS needs a policy for that, which the stack cannot
    evaluate, so another account's bucket is refused: stricter, never more lenient."""
    bucket = _s3(account_id, region).buckets.get(name)
    if bucket is None:
        raise algorithm.ClientError(
            f"{step} failed: bucket {name} does not exist or is not this account's (AccessDenied)"
        )
    return bucket


class AsRole(service.AsService):
    """What a job does in S3 as its RoleArn, which SageMaker assumes to download the input
    data and upload the model (sagemaker-roles.html): each read and write judged as the
    request would be, a refusal failing the job at its `step`."""

    @classmethod
    def of(cls, role_arn: str, job_arn: str, region: str) -> AsRole:
        try:
            return cls.of_sagemaker(role_arn, job_arn, region)
        except service.TrustRefused:
            # The FailureReason SageMaker gives a job whose role it cannot assume
            # (aws/sagemaker-python-sdk issue #35).
            raise algorithm.ClientError(
                f"SageMaker was unable to assume the role '{role_arn}'"
            ) from None

    def check(self, step: str, operation: str, params: dict, headers: dict | None = None) -> None:
        why = self.refusal(operation, params, headers)
        if why is not None:
            raise algorithm.ClientError(f"{step} failed: AccessDenied: {why}")


def read_channel(
    account_id: str, region: str, channel: dict, role: AsRole | None = None
) -> list[tuple[str, bytes]]:
    """Every object under the channel's S3 prefix (S3Prefix: a key prefix, not a folder),
    read as `role` when given (a job; the stack's own look at a channel passes none)."""
    source = channel.get("DataSource", {}).get("S3DataSource") or {}
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise algorithm.ClientError(
            f"S3DataType {source.get('S3DataType')} is not supported by the embedded stack"
        )
    uri = source.get("S3Uri", "")
    bucket_name, prefix = _split(uri)
    bucket = _own_bucket(account_id, region, bucket_name)
    if role is not None:
        role.check("Data download", "ListObjectsV2", {"Bucket": bucket_name, "Prefix": prefix})
    files = [
        (name[len(prefix) :] or name, key.value)
        for name, key in sorted(bucket.keys.items())
        if name.startswith(prefix) and not isinstance(key, FakeDeleteMarker)
    ]
    if not files:
        raise algorithm.ClientError(f'No S3 objects found under S3 URL "{uri}"')
    if role is not None:
        for name, _ in files:
            role.check("Data download", "GetObject", {"Bucket": bucket_name, "Key": prefix + name})
    return files


def write_object(
    account_id: str, region: str, uri: str, body: bytes, role: AsRole, kms_key_id: str | None
) -> None:
    """The model, as the job's role, encrypted with the job's KmsKeyId if it names one (else
    the bucket's default)."""
    bucket, key = _split(uri)
    _own_bucket(account_id, region, bucket, "Model upload")
    sse = {}
    if kms_key_id:
        sse = {
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": kms_key_id,
        }
    role.check("Model upload", "PutObject", {"Bucket": bucket, "Key": key}, sse)
    _s3(account_id, region).put_object(bucket, key, body)


class TrainingJob:
    """A training job as DescribeTrainingJob shows it; `run()` does the work (in a thread)."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        name: str,
        definition: dict[str, Any],
        hyperparameters: dict[str, str],
        tuning_job_arn: str | None = None,
    ):
        self.account_id, self.region = account_id, region
        self.training_job_name = name
        self.arn = arn_formatter("training-job", name, account_id, region)
        self.definition = definition
        self.hyperparameters = hyperparameters
        self.tuning_job_arn = tuning_job_arn
        self.creation_time = self.last_modified_time = utcnow()
        self.training_start_time = None
        self.training_end_time = None
        self.training_job_status = "InProgress"
        self.secondary_status = "Starting"
        self.transitions: list[dict[str, Any]] = []
        self.failure_reason: str | None = None
        self.final_metrics: dict[str, float] = {}
        self.model_uri: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.clock = Clock({})
        self._move("Starting", "Launching requested ML instances")

    # --- state ---------------------------------------------------------------------------

    def _move(self, secondary: str, message: str) -> None:
        now = utcnow()
        with self._lock:
            if self.transitions and "EndTime" not in self.transitions[-1]:
                self.transitions[-1]["EndTime"] = now
            self.transitions.append(
                {"Status": secondary, "StartTime": now, "StatusMessage": message}
            )
            self.secondary_status = secondary
            self.last_modified_time = now

    def _end(self, status: str, secondary: str, message: str, reason: str | None = None) -> None:
        self._move(secondary, message)
        with self._lock:
            self.transitions[-1]["EndTime"] = self.transitions[-1]["StartTime"]
            self.training_job_status = status
            # The API's FailureReason holds at most 1024 characters (botocore shape).
            self.failure_reason = reason[:1024] if reason else None
            self.training_end_time = utcnow()

    @property
    def done(self) -> bool:
        return self.training_job_status in ("Completed", "Failed", "Stopped")

    def request_stop(self) -> None:
        """StopTrainingJob: the algorithm is interrupted between two boosting rounds."""
        if not self.done:
            self._stop.set()
            with self._lock:
                self.training_job_status = "Stopping"
                self.last_modified_time = utcnow()

    # --- the run -------------------------------------------------------------------------

    def _phase(self, seconds: float) -> str | None:
        """Spend a phase of SageMaker's own (slept scaled); why it was cut short, if it was."""
        take = max(0.0, min(seconds, self.clock.remaining()))
        if self._stop.wait(take * time_scale()):
            return "stopped"
        self.clock.spent += take
        return self.clock.over()

    def run(self, inject_failure: str | None = None, budget: float = math.inf) -> None:
        """Start to finish; never raises (a failure becomes FailureReason). `budget`: the
        SageMaker seconds its tuning job has left; running out of it stops the job."""
        limit = self.definition.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        self.clock = Clock({"max runtime": limit or math.inf, "stopped": budget})
        try:
            self._run(inject_failure)
        except algorithm.Interrupted as e:
            self._interrupted(str(e))
        except algorithm.ClientError as e:
            self._end("Failed", "Failed", "Training job failed", f"ClientError: {e}")
        except Exception as e:  # anything else inside the algorithm
            self._end("Failed", "Failed", "Training job failed", f"AlgorithmError: {e}")

    def _interrupted(self, why: str) -> None:
        if why == "max runtime":
            self._end("Stopped", "MaxRuntimeExceeded", "Job stopped: MaxRuntimeInSeconds")
        else:
            self._end("Stopped", "Stopped", "Training job stopped")

    def _check(self, why: str | None) -> None:
        if why is not None:
            raise algorithm.Interrupted(why)

    def _run(self, inject_failure: str | None) -> None:
        spec = self.definition.get("AlgorithmSpecification", {})
        problem = image_problem(spec.get("TrainingImage", ""), self.region)
        self._check(self._phase(PHASES["Starting"]))
        if problem:
            raise algorithm.ClientError(problem)
        role = AsRole.of(self.definition.get("RoleArn", ""), self.arn, self.region)
        self._move("Downloading", "Downloading input data")
        channels = _channels(self.definition.get("InputDataConfig", []))
        data = {
            name: read_channel(self.account_id, self.region, c, role)
            for name, c in channels.items()
        }
        self._check(self._phase(PHASES["Downloading"]))
        self._move("Training", "Training image download completed. Training in progress.")
        self.training_start_time = utcnow()
        if inject_failure:
            raise algorithm.AlgorithmError(inject_failure)

        started = time.monotonic()
        ends = started + self.clock.remaining()  # the algorithm's time counts as it runs

        def stop() -> str | None:
            if self._stop.is_set():
                return "stopped"
            if time.monotonic() >= ends:
                self.clock.spent += time.monotonic() - started
                return self.clock.over() or "max runtime"
            return None

        prepared = algorithm.prepare(self.hyperparameters, data["train"], data.get("validation"))
        model_tar_gz, final_metrics = training_pool.train(prepared, stop, ends, self._stop)
        self.clock.spent += time.monotonic() - started
        self._move("Uploading", "Uploading generated training model")
        output = self.definition["OutputDataConfig"]["S3OutputPath"]
        uri = f"{output.rstrip('/')}/{self.training_job_name}/output/model.tar.gz"
        self._check(self._phase(PHASES["Uploading"]))
        kms = self.definition["OutputDataConfig"].get("KmsKeyId")
        write_object(self.account_id, self.region, uri, model_tar_gz, role, kms)
        with self._lock:
            self.model_uri = uri
            self.final_metrics = final_metrics
        self._end("Completed", "Completed", "Training job completed")

    # --- what the API shows --------------------------------------------------------------

    def times_and_failure(self) -> dict[str, Any]:
        """TrainingStartTime, TrainingEndTime and FailureReason, those that are set."""
        out = {
            "TrainingStartTime": self.training_start_time,
            "TrainingEndTime": self.training_end_time,
            "FailureReason": self.failure_reason,
        }
        return {k: v for k, v in out.items() if v}

    @property
    def response_object(self) -> dict[str, Any]:
        d = self.definition
        now = utcnow()
        with self._lock:
            out: dict[str, Any] = {
                "TrainingJobName": self.training_job_name,
                "TrainingJobArn": self.arn,
                "ModelArtifacts": {"S3ModelArtifacts": self.model_uri} if self.model_uri else {},
                "TrainingJobStatus": self.training_job_status,
                "SecondaryStatus": self.secondary_status,
                "HyperParameters": dict(self.hyperparameters),
                "AlgorithmSpecification": d.get("AlgorithmSpecification"),
                "RoleArn": d.get("RoleArn"),
                "InputDataConfig": d.get("InputDataConfig"),
                "OutputDataConfig": d.get("OutputDataConfig"),
                "ResourceConfig": d.get("ResourceConfig"),
                "StoppingCondition": d.get("StoppingCondition"),
                "CreationTime": self.creation_time,
                "LastModifiedTime": self.last_modified_time,
                "SecondaryStatusTransitions": [dict(t) for t in self.transitions],
                "EnableNetworkIsolation": bool(d.get("EnableNetworkIsolation", False)),
                "EnableInterContainerTrafficEncryption": bool(
                    d.get("EnableInterContainerTrafficEncryption", False)
                ),
                "EnableManagedSpotTraining": bool(d.get("EnableManagedSpotTraining", False)),
            }
            if self.tuning_job_arn:
                out["TuningJobArn"] = self.tuning_job_arn
            out.update(self.times_and_failure())
            if self.training_end_time:
                seconds = int((self.training_end_time - self.creation_time).total_seconds())
                out["TrainingTimeInSeconds"] = out["BillableTimeInSeconds"] = max(seconds, 1)
            if self.final_metrics:
                out["FinalMetricDataList"] = [
                    {"MetricName": k, "Value": v, "Timestamp": self.training_end_time or now}
                    for k, v in sorted(self.final_metrics.items())
                ]
        return {k: v for k, v in out.items() if v is not None}


def _channels(config: list[dict]) -> dict[str, dict]:
    """The channels the algorithm reads, by name, checked as the container checks them:
    train (required), validation, code (algorithm_mode/channel_validation.py); CSV only here."""
    channels = {c["ChannelName"]: c for c in config}
    if "train" not in channels:
        raise algorithm.ClientError("Missing required channel: train")
    for name in channels:
        if name not in ("train", "validation", "code"):
            raise algorithm.ClientError(f"Extraneous channel found: {name}")
    channels.pop("code", None)  # script mode's; the built-in algorithm reads no code
    for c in channels.values():
        if algorithm_content_type(c) != "csv":
            raise algorithm.ClientError(
                f"Channel {c['ChannelName']}: ContentType {c.get('ContentType')} is not "
                "supported by the embedded stack (only text/csv)"
            )
    return channels


def algorithm_content_type(channel: dict) -> str:
    """The container's reading of a channel's ContentType (data_utils.get_content_type):
    none means libsvm; `text/csv` and `csv` (label_size=1 at most) mean CSV."""
    raw = (channel.get("ContentType") or "").lower()
    if not raw:
        return "libsvm"
    base, _, params = raw.partition(";")
    if base.strip() in ("csv", "text/csv"):
        if "label_size" in params and params.split("label_size=")[-1].strip() != "1":
            raise algorithm.ClientError(
                f"{raw} is not an accepted csv ContentType. Optional parameter label_size "
                "must be equal to 1"
            )
        return "csv"
    return base.strip()


_running: set[TrainingJob] = set()
_running_lock = threading.Lock()


def start(
    job: TrainingJob,
    on_done: Callable[[TrainingJob], None],
    failure: str | None,
    budget: float = math.inf,
) -> None:
    """Run `job` in a daemon thread and call `on_done(job)` when it has ended."""

    def body() -> None:
        try:
            job.run(failure, budget)
            on_done(job)
        finally:
            with _running_lock:
                _running.discard(job)

    with _running_lock:
        _running.add(job)
    threading.Thread(target=body, name=f"train-{job.training_job_name}", daemon=True).start()


def stop_all(timeout: float = 10.0) -> None:
    """Stop every running training job and wait for them to end (before moto's state is reset,
    so that no job writes into the next stack's S3)."""
    with _running_lock:
        jobs = list(_running)
    for job in jobs:
        job.request_stop()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _running_lock:
            if not _running:
                break
        time.sleep(0.02)
    training_pool.shutdown()  # the worker processes end with the stack


def create(
    backend: Any,
    *,
    training_job_name: str,
    hyper_parameters: dict[str, str] | None,
    algorithm_specification: dict,
    role_arn: str,
    input_data_config: list[dict],
    output_data_config: dict,
    resource_config: dict,
    stopping_condition: dict,
    enable_network_isolation: bool = False,
    enable_inter_container_traffic_encryption: bool = False,
    enable_managed_spot_training: bool = False,
    **_unused: Any,  # VPC, checkpoints, debugger, tags: no effect on what the stack trains
) -> TrainingJob:
    """CreateTrainingJob, as moto's backend method (called with its keywords): the job starts
    InProgress and trains in the background instead of moto's instant "Completed"."""
    if training_job_name in backend.training_jobs:
        from moto.sagemaker.exceptions import ResourceInUseException

        raise ResourceInUseException(
            message=f"Training job names must be unique within an AWS account and region, and "
            f"a training job with this name already exists ({training_job_name})"
        )
    definition = {
        "AlgorithmSpecification": algorithm_specification,
        "RoleArn": role_arn,
        "InputDataConfig": input_data_config,
        "OutputDataConfig": output_data_config,
        "ResourceConfig": resource_config,
        "StoppingCondition": stopping_condition,
        "EnableNetworkIsolation": enable_network_isolation,
        "EnableInterContainerTrafficEncryption": enable_inter_container_traffic_encryption,
        "EnableManagedSpotTraining": enable_managed_spot_training,
    }
    job = TrainingJob(
        account_id=backend.account_id,
        region=backend.region_name,
        name=training_job_name,
        definition=definition,
        hyperparameters=dict(hyper_parameters or {}),
    )
    backend.training_jobs[training_job_name] = job
    start(job, lambda _job: None, None)
    return job
