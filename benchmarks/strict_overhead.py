"""What strict requests cost: requests per second through the embedded AWS with the validator
(stack/strict.py) on and off, measured in the same run on the same moto.

    python benchmarks/strict_overhead.py [--requests 300] [--repeat 3]

Each round sends the same mix of the calls the product makes, through boto3 over HTTP: S3
put/get/head/list, STS get_caller_identity, Secrets Manager get_secret_value, and SageMaker
describe/list calls plus a warm-started CreateHyperParameterTuningJob (the largest request the
product sends). Rounds alternate on/off; the fastest of --repeat rounds of each counts (a
shared runner is noisy). Last line:

    strict_overhead requests=N rps_on=X rps_off=Y overhead_pct=Z cpu_ms_on=A cpu_ms_off=B
    cpu_overhead_pct=C

overhead_pct = (rps_off / rps_on - 1) * 100: how much longer the same requests take with
the validator on; cpu_overhead_pct the same from the process's CPU time per request (client
and moto both run in this process), the steadier figure on a shared machine.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onoff import arguments, compare  # noqa: E402

from mmeops.stack import strict  # noqa: E402
from mmeops.stack.iam import middleware as iam  # noqa: E402
from mmeops.stack.moto_server import (  # noqa: E402
    BASE_ACCESS_KEY_ID,
    BASE_SECRET_ACCESS_KEY,
    MotoServer,
)
from mmeops.tune import tuning_job as tune_sagemaker  # noqa: E402

BUCKET = "bench-strict"
_names = itertools.count()


def clients(url: str) -> dict:
    config = Config(retries={"max_attempts": 1})
    return {
        service: boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=BASE_ACCESS_KEY_ID,
            aws_secret_access_key=BASE_SECRET_ACCESS_KEY,
            config=config,
        )
        for service in ("s3", "sts", "secretsmanager", "sagemaker")
    }


def tuning_request() -> dict:
    return tune_sagemaker.build_request(
        job_name=f"bench-{next(_names)}",
        image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        role_arn="arn:aws:iam::111111111111:role/mmeops-sagemaker-execution",
        instance_type="ml.m5.large",
        objective_metric="validation:rmse",
        direction="Minimize",
        max_jobs=6,
        max_parallel_jobs=2,
        ranges={
            "eta": {"type": "continuous", "min": 0.01, "max": 0.3},
            "max_depth": {"type": "integer", "min": 2, "max": 8},
            "subsample": {"type": "continuous", "min": 0.5, "max": 1.0},
        },
        static={"num_round": 200, "objective": "reg:squarederror", "early_stopping_rounds": 10},
        train_uri=f"s3://{BUCKET}/train/",
        validation_uri=f"s3://{BUCKET}/validation/",
        output_path=f"s3://{BUCKET}/tuning/",
        parents=["bench-parent"],
        warm_start_type="IdenticalDataAndAlgorithm",
    )


def one_mix(c: dict, i: int) -> int:
    """Ten requests of the product's kinds; returns how many were sent."""
    key = f"objects/{i % 20}.json"
    c["s3"].put_object(Bucket=BUCKET, Key=key, Body=b'{"x": 1}', ContentType="application/json")
    c["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    c["s3"].head_object(Bucket=BUCKET, Key=key)
    c["s3"].list_objects_v2(Bucket=BUCKET, Prefix="objects/")
    c["sts"].get_caller_identity()
    c["secretsmanager"].get_secret_value(SecretId="bench/dsn")
    c["sagemaker"].list_model_packages(ModelPackageGroupName="bench", MaxResults=100)
    c["sagemaker"].describe_model_package_group(ModelPackageGroupName="bench")
    c["sagemaker"].list_endpoints(MaxResults=100)
    c["sagemaker"].create_hyper_parameter_tuning_job(**tuning_request())
    return 10


def main() -> None:
    args = arguments(__doc__)

    moto = MotoServer()
    c = clients(moto.start())
    # The runner's own keys may do nothing but assume roles (stack/iam); IAM's cost is
    # benchmarks/iam_overhead.py's to measure, this one measures the validator alone.
    guard = iam.disabled()
    guard.__enter__()
    try:
        c["s3"].create_bucket(Bucket=BUCKET)
        c["secretsmanager"].create_secret(Name="bench/dsn", SecretString="postgresql://x")
        c["sagemaker"].create_model_package_group(ModelPackageGroupName="bench")
        # The warm-start parent every round's request names must exist (the stack checks it).
        parent = tuning_request()
        parent["HyperParameterTuningJobName"] = "bench-parent"
        parent.pop("WarmStartConfig")
        c["sagemaker"].create_hyper_parameter_tuning_job(**parent)
        c["sagemaker"].stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="bench-parent")
        while c["sagemaker"].describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="bench-parent"
        )["HyperParameterTuningJobStatus"] not in ("Completed", "Stopped", "Failed"):
            time.sleep(0.1)
        compare(
            "strict_overhead",
            lambda i: one_mix(c, i),
            strict.disabled,
            args.requests,
            args.repeat,
            refused=strict.violations,
        )
    finally:
        guard.__exit__(None, None, None)
        moto.stop()


if __name__ == "__main__":
    main()
