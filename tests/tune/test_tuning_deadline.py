"""Issue 27: the tuning wait is bounded by the job's own limit. SageMaker stops a tuning job at
ResourceLimits.MaxRuntimeInSeconds (botocore's `HyperParameterTuningMaxRuntimeInSeconds`:
120 to 15,768,000 s); the request carries the model's `tuning.max_runtime_seconds` and the
default wait ends ten minutes after it, where it once waited 145 h for a 6 h runner."""

from __future__ import annotations

from pathlib import Path

import botocore.session

from mmeops.config.repo import load_repo
from mmeops.tune import sagemaker, tuning_job

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_wait_ends_soon_after_the_tuning_jobs_own_limit():
    cfg = load_repo(ROOT).model("breast-cancer")  # 12 jobs, 2 in parallel, 24 h per job
    assert cfg.tuning.max_runtime_seconds == 6 * 3600
    assert sagemaker.deadline(cfg, cfg.tuning.max_jobs) == 6 * 3600 + 600
    # Without the limit the same model would wait six waves of 24 h.
    assert tuning_job.deadline_seconds(12, 2, 86400) == 6 * 86400 + 3600


def test_the_request_carries_the_limit_within_what_sagemaker_accepts():
    request = tuning_job.build_request(
        job_name="j",
        objective_metric="validation:rmse",
        direction="Minimize",
        max_jobs=4,
        max_parallel_jobs=2,
        ranges={"eta": {"type": "continuous", "min": 0.1, "max": 0.3}},
        static={"objective": "reg:squarederror"},
        tuning_max_runtime_seconds=21600,
        image="xgboost:3.2-0",
        role_arn="arn:aws:iam::111111111111:role/x",
        instance_type="ml.m5.large",
        train_uri="s3://b/train.csv",
        validation_uri="s3://b/validation.csv",
        output_path="s3://b/out/",
    )
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.shape_for("ResourceLimits").members["MaxRuntimeInSeconds"]
    assert shape.metadata["min"] <= limits["MaxRuntimeInSeconds"] <= shape.metadata["max"]
