"""How much slower is a SageMaker tuning job on the embedded stack than the local backend?

The same generated regression data and the diabetes model's search space and static
hyperparameters, tuned twice per round in this process:
- baseline: the local backend's search (`mmeops.tune.local.study`, optuna TPE over
  xgboost in-process), `--jobs` trials;
- the embedded stack: CreateHyperParameterTuningJob on a bare moto server (no PostgreSQL, no
  MME) with `--jobs` training jobs, `--parallel` at a time, polled every 0.1 s until it ends,
  at the time scale given (`MMEOPS_STACK_TIME_SCALE`, default 0.0002); its training jobs
  train in the stack's worker processes (`stack/training_pool`, started before timing).

Prints each round's wall times; last line:
`training stack_wall_s=A local_wall_s=B ratio=R jobs=J parallel=P scale=S` (medians, R = A / B).

    .venv/bin/python benchmarks/training.py [--rows 5000] [--jobs 12] [--parallel 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
import uuid
from pathlib import Path

import boto3
import numpy as np

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from mmeops.config.repo import load_repo  # noqa: E402
from mmeops.images import xgboost_image  # noqa: E402
from mmeops.stack import training_pool  # noqa: E402

# The stack's admin: the runner's own keys may only assume roles (stack/iam).
from mmeops.stack.iam.sessions import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY  # noqa: E402
from mmeops.stack.moto_server import MotoServer  # noqa: E402
from mmeops.stack.training import time_scale  # noqa: E402
from mmeops.tune import tuning_job as tune_sagemaker  # noqa: E402
from mmeops.tune.local import study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "diabetes-progression"
REGION = "us-east-1"


def data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 10))
    y = x @ np.linspace(1, 0.1, 10) + np.sin(2 * x[:, 0]) * x[:, 1] + rng.normal(size=rows)
    return x, y


def csv(x: np.ndarray, y: np.ndarray) -> bytes:
    """The built-in algorithm's CSV: no header, label first."""
    out = io.StringIO()
    np.savetxt(out, np.column_stack([y, x]), delimiter=",", fmt="%.6f")
    return out.getvalue().encode()


def execution_role(iam) -> str:
    """The jobs' role: SageMaker assumes it to read the channels and write the models (the
    stack judges both), so it trusts sagemaker.amazonaws.com and may use the bucket."""
    trust = {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
             "Action": "sts:AssumeRole"}  # fmt: skip
    bucket = "arn:aws:s3:::benchmark-training"
    use = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket", "s3:PutObject"],
           "Resource": [bucket, f"{bucket}/*"]}  # fmt: skip
    doc = lambda *s: json.dumps({"Version": "2012-10-17", "Statement": list(s)})  # noqa: E731
    arn = iam.create_role(RoleName="sm", AssumeRolePolicyDocument=doc(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="sm", PolicyName="sm", PolicyDocument=doc(use))
    return arn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    cfg = load_repo(ROOT).model(MODEL)
    ranges = {k: v.model_dump(exclude_none=True) for k, v in cfg.tuning.ranges.items()}
    static = dict(cfg.xgboost.static_hyperparameters)
    x, y = data(args.rows)
    cut = int(args.rows * 0.8)
    train_csv, validation_csv = csv(x[:cut], y[:cut]), csv(x[cut:], y[cut:])

    server = MotoServer()
    url = server.start()
    training_pool.warm()  # its fork server's import of xgboost: once per process, untimed
    session = boto3.Session(
        aws_access_key_id=ADMIN_ACCESS_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    s3, sm, iam = (session.client(s, endpoint_url=url) for s in ("s3", "sagemaker", "iam"))
    s3.create_bucket(Bucket="benchmark-training")
    role_arn = execution_role(iam)
    s3.put_object(Bucket="benchmark-training", Key="data/train.csv", Body=train_csv)
    s3.put_object(Bucket="benchmark-training", Key="data/validation.csv", Body=validation_csv)
    image = xgboost_image(REGION, cfg.xgboost.image_version)

    stack_s, local_s = [], []
    try:
        for n in range(args.rounds):
            start = time.perf_counter()
            study(
                (x[:cut], y[:cut]),
                (x[cut:], y[cut:]),
                ranges=ranges,
                static=static,
                objective_metric=cfg.tuning.objective_metric,
                direction=cfg.tuning.direction,
                n_trials=args.jobs,
                seed=n,
            )
            local_s.append(time.perf_counter() - start)

            name = f"bench-{uuid.uuid4().hex[:8]}"
            request = tune_sagemaker.build_request(
                job_name=name,
                image=image,
                role_arn=role_arn,
                instance_type="ml.m5.large",
                objective_metric=cfg.tuning.objective_metric,
                direction=cfg.tuning.direction,
                max_jobs=args.jobs,
                max_parallel_jobs=args.parallel,
                ranges=ranges,
                static=static,
                train_uri="s3://benchmark-training/data/train.csv",
                validation_uri="s3://benchmark-training/data/validation.csv",
                output_path=f"s3://benchmark-training/{name}/output/",
            )
            start = time.perf_counter()
            sm.create_hyper_parameter_tuning_job(**request)
            while True:
                d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
                    break
                time.sleep(0.1)
            stack_s.append(time.perf_counter() - start)
            assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
            print(
                f"round {n + 1}: local {local_s[-1]:.2f} s, stack {stack_s[-1]:.2f} s "
                f"({d['TrainingJobStatusCounters']['Completed']} training jobs)"
            )
    finally:
        server.stop()
    a, b = statistics.median(stack_s), statistics.median(local_s)
    print(
        f"training stack_wall_s={a:.2f} local_wall_s={b:.2f} ratio={a / b:.2f} "
        f"jobs={args.jobs} parallel={args.parallel} scale={time_scale():g}"
    )


if __name__ == "__main__":
    main()
