"""Serving latency of the local multi-model endpoint, measured through boto3.

On a fresh embedded stack: one MME in the sandbox account with a few XGBoost models
(200 trees, depth 4, 10 features). Warm latency: 1,000 `invoke_endpoint` calls of one row to a
loaded model (p50, p99). Cold latency: the first call to each of 5 models not loaded yet
(median): S3 download, untar, `Booster.load_model`, predict. Capacity: the models one instance
holds loaded at once, per instance type (mmeops/capacity.py's table at 215 MiB per loaded
model's worker), and, measured, how many of 40 small models the local ml.m5.large endpoint
keeps loaded after calling each once (it must equal the table's figure).

    .venv/bin/python benchmarks/serving.py

The last line is machine-readable: `serving p50_ms=X p99_ms=Y cold_ms=Z`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from botocore.config import Config

from mmeops.artifact import pack
from mmeops.capacity import INSTANCE_TYPES, capacity
from mmeops.config.repo import load_repo
from mmeops.deploy.desired import execution_role
from mmeops.stack.embedded import EmbeddedStack

ROOT = Path(__file__).resolve().parents[1]
WARM_CALLS = 1000
COLD_MODELS = 5
FILL_MODELS = 40


def artifact(seed: int, rounds: int = 200) -> bytes:
    rng = np.random.default_rng(seed)
    X = rng.random((1000, 10))
    y = X @ rng.random(10)
    booster = xgb.train({"max_depth": 4, "eta": 0.1}, xgb.DMatrix(X, label=y), rounds)
    return pack(booster)


def main() -> int:
    with EmbeddedStack(ROOT) as stack:
        stack.apply_env()
        env = load_repo(ROOT).envs["sandbox"]
        # The stack's admin sets the endpoint up (the deployer may create only the models
        # its reconcile names); the runtime calls below are the bench.
        sandbox = stack.admin(env.account_id, env.region)
        targets = [f"bench/m{i}.tar.gz" for i in range(COLD_MODELS + 1)]
        for i, target in enumerate(targets):
            sandbox.put_bytes(env.artifact_bucket, f"mme/{target}", artifact(i))
        small = artifact(99, rounds=1)
        fill = [f"bench/fill{i}.tar.gz" for i in range(FILL_MODELS)]
        for target in fill:
            sandbox.put_bytes(env.artifact_bucket, f"mme/{target}", small)
        sandbox.call(
            "sagemaker",
            "create_model",
            ModelName="bench",
            # The account's execution role (infra/bootstrap.yaml): the endpoint reads as it.
            ExecutionRoleArn=execution_role(load_repo(ROOT), env.account_id),
            PrimaryContainer={
                "Image": "xgboost",
                "Mode": "MultiModel",
                "ModelDataUrl": env.artifact_prefix,
            },
        )
        sandbox.call(
            "sagemaker",
            "create_endpoint_config",
            EndpointConfigName="bench",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "bench",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        sandbox.call(
            "sagemaker", "create_endpoint", EndpointName="bench", EndpointConfigName="bench"
        )
        while (
            sandbox.call("sagemaker", "describe_endpoint", EndpointName="bench")["EndpointStatus"]
            != "InService"
        ):  # the stack's endpoints pass through Creating, as AWS's do
            time.sleep(0.05)
        # As the endpoint account's operator: the local MME authorizes InvokeEndpoint.
        runtime = sandbox.session.client(
            "sagemaker-runtime",
            region_name=env.region,
            endpoint_url=stack.mme_url,
            config=Config(retries={"max_attempts": 1}),
        )
        row = ",".join(f"{v:.6f}" for v in np.random.default_rng(9).random(10))

        def invoke(target: str) -> float:
            start = time.perf_counter()
            runtime.invoke_endpoint(
                EndpointName="bench",
                TargetModel=target,
                ContentType="text/csv",
                Accept="text/csv",
                Body=row,
            )["Body"].read()
            return (time.perf_counter() - start) * 1000

        warm_target, cold_targets = targets[0], targets[1:]
        invoke(warm_target)  # loads it, resolves the endpoint, opens the connection
        cold = [invoke(t) for t in cold_targets]
        warm = sorted(invoke(warm_target) for _ in range(WARM_CALLS))
        for target in fill:
            invoke(target)
        assert stack.endpoints is not None
        kept = sum(1 for k in stack.endpoints.cache.loaded() if k[0] == "bench")

    p50, p99 = np.percentile(warm, 50), np.percentile(warm, 99)
    cold_ms = statistics.median(cold)
    size_kb = len(artifact(0)) / 1024
    print(f"local MME through boto3 sagemaker-runtime, one row, model.tar.gz {size_kb:.0f} KiB")
    print(f"  warm: {WARM_CALLS} calls, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {warm[-1]:.2f} ms")
    print(f"  cold: first call to {COLD_MODELS} models, median {cold_ms:.1f} ms")
    table = ", ".join(f"{t} {capacity(t).per_instance}" for t in INSTANCE_TYPES)
    print(f"  capacity per instance (models loaded at once): {table}")
    m5 = capacity("ml.m5.large").per_instance
    print(f"  capacity measured: the ml.m5.large endpoint kept {kept} of {FILL_MODELS + 6} models")
    print(f"  loaded (table: {m5}), least recently used evicted first")
    print(f"serving p50_ms={p50:.2f} p99_ms={p99:.2f} cold_ms={cold_ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
