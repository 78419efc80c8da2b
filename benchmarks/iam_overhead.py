"""What IAM enforcement costs: requests per second through the embedded AWS with the IAM
middleware (stack/iam/) on and off, measured in the same run on the same moto.

    python benchmarks/iam_overhead.py [--requests 300] [--repeat 3]

The accounts are built from infra/bootstrap.yaml as the stack builds them; each round sends,
as the training role (assumed from the runner, as `mmeops retrain` does), the calls the
product makes most: S3 put/get/head/list on the SSE-KMS training bucket (each put and get
also authorizes the key), STS get_caller_identity, Secrets Manager get_secret_value, SageMaker
describe/list calls and a CreateHyperParameterTuningJob (iam:PassRole). Rounds alternate
on/off; the fastest of --repeat rounds of each counts. Last line:

    iam_overhead requests=N rps_on=X rps_off=Y overhead_pct=Z cpu_ms_on=A cpu_ms_off=B
    cpu_overhead_pct=C

The budget (issue 23) is 10% of the test suite's time; the suite also trains, waits and
runs PostgreSQL, so the per-request overhead here bounds the suite's from above.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from strict_overhead import tuning_request  # noqa: E402

from mmeops.config.repo import load_repo  # noqa: E402
from mmeops.stack.iam import middleware as iam  # noqa: E402
from mmeops.stack.iam.world import World  # noqa: E402
from mmeops.stack.moto_server import MotoServer, admin_aws, assumed_aws  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def one_mix(aws, bucket: str, i: int) -> int:
    """Ten requests of the product's kinds, as the training role; returns how many."""
    key = f"datasets/bench/{i % 20}.json"
    aws.put_bytes(bucket, key, b'{"x": 1}', content_type="application/json")
    aws.get_bytes(bucket, key)
    aws.head(bucket, key)
    aws.list_objects(bucket, "datasets/bench/")
    aws.call("sts", "get_caller_identity")
    aws.call("secretsmanager", "get_secret_value", SecretId="mmeops/warehouse")
    aws.call("sagemaker", "list_model_packages", ModelPackageGroupName="bench", MaxResults=100)
    aws.call("sagemaker", "describe_model_package_group", ModelPackageGroupName="bench")
    aws.call("sagemaker", "describe_model_package_group", ModelPackageGroupName="bench")
    request = tuning_request()
    request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"] = f"s3://{bucket}/tuning/"
    request.pop("WarmStartConfig", None)  # no parent job in this account
    aws.call("sagemaker", "create_hyper_parameter_tuning_job", **request)
    return 10


def timed_round(aws, bucket: str, requests: int) -> tuple[float, float]:
    sent, start, cpu, i = 0, time.perf_counter(), time.process_time(), 0
    while sent < requests:
        sent += one_mix(aws, bucket, i)
        i += 1
    return sent / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    repo = load_repo(ROOT)
    t = repo.settings.training
    moto = MotoServer()
    url = moto.start()
    try:
        World(ROOT, lambda account, region: admin_aws(url, account, region)).build(repo)
        admin = admin_aws(url, t.account_id, t.region)
        admin.call("secretsmanager", "create_secret", Name="mmeops/warehouse", SecretString="x")
        admin.call("sagemaker", "create_model_package_group", ModelPackageGroupName="bench")
        aws = assumed_aws(url, t.account_id, t.region, t.role_arn)
        bucket = repo.settings.bucket
        timed_round(aws, bucket, 50)  # untimed: imports, connections, model loading
        with iam.disabled():
            timed_round(aws, bucket, 50)
        on, off = [], []
        for _ in range(args.repeat):
            on.append(timed_round(aws, bucket, args.requests))
            with iam.disabled():
                off.append(timed_round(aws, bucket, args.requests))
        assert iam.refusals() == [], iam.refusals()
        for label, rounds in (("on ", on), ("off", off)):
            shown = ", ".join(f"{r:.0f}/s {ms:.2f}ms" for r, ms in rounds)
            print(f"rounds {label}: {shown} (requests per second, CPU per request)")
        best_on, best_off = max(r for r, _ in on), max(r for r, _ in off)
        cpu_on, cpu_off = min(ms for _, ms in on), min(ms for _, ms in off)
        print(
            f"iam_overhead requests={args.requests} rps_on={best_on:.0f} "
            f"rps_off={best_off:.0f} overhead_pct={(best_off / best_on - 1) * 100:.1f} "
            f"cpu_ms_on={cpu_on:.2f} cpu_ms_off={cpu_off:.2f} "
            f"cpu_overhead_pct={(cpu_on / cpu_off - 1) * 100:.1f}"
        )
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
