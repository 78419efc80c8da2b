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

import os
import sys
from pathlib import Path

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onoff import arguments, compare  # noqa: E402
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


def main() -> None:
    args = arguments(__doc__)

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
        compare(
            "iam_overhead",
            lambda i: one_mix(aws, bucket, i),
            iam.disabled,
            args.requests,
            args.repeat,
            refused=iam.refusals,
        )
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
