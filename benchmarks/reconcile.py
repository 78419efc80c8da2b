"""Reconcile at scale: AWS API calls and wall time on the embedded stack.

    python benchmarks/reconcile.py --models 500

Sets up one environment with N models (packages registered in the training account with a
thread pool), applies a first sync, then measures:

- noop: an apply right after, with nothing to do;
- one_change: one model's pinned version moved up (copy, approval, manifest, smoke test);
- rollback: that model pinned back to its retained version (manifest write, smoke test);
- naive: a full sync as the seed article does it, serially: for every model look up the latest
  approved package, describe it, copy its artifact; then refresh the endpoint.

How calls are counted: `mmeops.aws.add_call_listener` sees every API call made through
mmeops.aws (botocore's `before-call` event: one per operation and per page of a paginated
list, not per HTTP retry). STS calls (GetCallerIdentity, AssumeRole) are counted apart from
the rest: the cached per-account sessions are dropped before every measured run, so each run
pays the STS calls a fresh `mmeops reconcile` process would (two per account; mmeops.aws has
no session refresh: a run's sessions are made once). The lease's own put and delete are
included in the counts, and so are sagemaker-runtime invocations (smoke tests). The local MME
server runs in this process and reads S3 and SageMaker through mmeops.aws too when it loads a
model; those calls (on its request and load threads) are what a real endpoint does on its
side, so they are reported apart as `endpoint_side`, not counted.

What one change costs (13): the manifest, the listing, DescribeEndpoint, DescribeModel and
DescribeScalableTargets (the endpoint config is not described when its name carries the digest
of what the file asks: deploy/remote.py), the package and its sample.json (rows and expected
predictions, carried from the plan to the smoke test), the lease's put, the copy (checked by
the SHA-256 it answers), the approval, the smoke test's invoke, the manifest's put, the lease's
delete (no HEAD of the manifest under the lease: the listing showed no lease, see
deploy/reconcile.py). A rollback to a retained version swaps the copy and approval for one
HEAD (its stored SHA-256); a no-op pays the five reads.

The last line is machine-readable:
`reconcile models=N noop_calls=A one_change_calls=B rollback_calls=C naive_calls=D
rollback_endpoint_updates=E` (targets: A <= 5, B <= 13, C <= 12, E = 0, D/B >= 50).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from mmeops import aws  # noqa: E402
from mmeops.artifact import pack  # noqa: E402
from mmeops.config.repo import load_repo  # noqa: E402
from mmeops.deploy.reconcile import reconcile  # noqa: E402
from mmeops.sample import Expected  # noqa: E402
from mmeops.stack.embedded import EmbeddedStack  # noqa: E402

ENV = "sandbox"
# The local MME's request threads and its model loads (stack/mme.py): the endpoint's side.
ENDPOINT_THREADS = ("process_request_thread", "mme-load")


def artifact_and_sample() -> tuple[bytes, bytes, bytes]:
    """An artifact, its sample rows and sample.json as registration writes them: the smoke
    tests compare the endpoint's answers with the model's own predictions."""
    import xgboost

    from mmeops.register.expected import predict_sample

    x = np.random.default_rng(0).normal(size=(40, 3))
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(x, label=x[:, 0]), 3)
    rows = tuple(",".join(f"{v:.3f}" for v in row) for row in x[:3])
    sample = "\n".join(rows)
    expected = Expected(("a", "b", "c"), predict_sample(booster, sample), len(rows), rows)
    return pack(booster), sample.encode(), expected.to_json()


def make_repo(tmp: Path, names: list[str]) -> Path:
    root = tmp / "repo"
    root.mkdir()
    shutil.copy2(ROOT / "mmeops.yaml", root)
    shutil.copytree(ROOT / "environments", root / "environments")
    src = ROOT / "models" / "diabetes-progression"
    text = (src / "model.yaml").read_text()
    for name in names:
        d = root / "models" / name
        d.mkdir(parents=True)
        shutil.copy2(src / "query.sql", d)
        (d / "model.yaml").write_text(text.replace("name: diabetes-progression", f"name: {name}"))
    return root


def pin(root: Path, versions: dict[str, int]) -> None:
    path = root / "environments" / f"{ENV}.yaml"
    head = path.read_text().split("models:")[0].replace("approve: false", "approve: true")
    path.write_text(head + "models:\n" + "".join(f"  {m}: {v}\n" for m, v in versions.items()))


def register_all(training: aws.Aws, bucket: str, names: list[str], workers: int) -> None:
    artifact, sample, expected = artifact_and_sample()
    training.put_bytes(bucket, "tuning/bench/model.tar.gz", artifact)
    training.put_bytes(bucket, "evaluations/bench/sample.csv", sample)
    training.put_bytes(bucket, "evaluations/bench/sample.json", expected)
    meta = {
        "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
        "artifact_size": str(len(artifact)),
        "sample_uri": f"s3://{bucket}/evaluations/bench/sample.csv",
        "image_version": "3.2-0",
    }

    def one(name: str, versions: int = 1) -> None:
        training.call("sagemaker", "create_model_package_group", ModelPackageGroupName=name)
        for _ in range(versions):
            training.call(
                "sagemaker",
                "create_model_package",
                ModelPackageGroupName=name,
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={
                    "Containers": [
                        {
                            "Image": "xgboost:3.2-0",
                            "ModelDataUrl": f"s3://{bucket}/tuning/bench/model.tar.gz",
                        }
                    ],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
                CustomerMetadataProperties=meta,
            )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda n: one(n, 2 if n == names[0] else 1), names))


class Counting:
    def __enter__(self):
        self.calls: Counter = Counter()
        self.sts = 0
        self.endpoint_side = 0
        self._remove = aws.add_call_listener(self._on)
        self.t0 = time.perf_counter()
        return self

    def _on(self, service: str, op: str, _params: dict) -> None:
        if any(t in threading.current_thread().name for t in ENDPOINT_THREADS):
            self.endpoint_side += 1  # the local MME server loading a model: not reconcile's
        elif service == "sts":
            self.sts += 1
        else:
            self.calls[op] += 1

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self._remove()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def measured_apply(root: Path) -> Counting:
    repo = load_repo(root)  # timed apart: parsing N model files is not reconcile's cost
    aws.reset_sessions()  # each run pays STS (and client creation) as a fresh process would
    with Counting() as c:
        report = reconcile(repo, ENV, "apply", git_sha="bench")
    assert not report.failed, report.failed
    return c


def naive_sync(root: Path, names: list[str]) -> Counting:
    """The seed article's loop: latest approved package per model, copy, refresh."""
    repo = load_repo(root)
    env = repo.envs[ENV]
    t = repo.settings.training
    aws.reset_sessions()
    with Counting() as c:
        training = aws.for_account(t.account_id, t.region, t.role_arn)
        target = aws.for_account(env.account_id, env.region, env.role_arn)
        for name in names:
            latest = training.call(
                "sagemaker",
                "list_model_packages",
                ModelPackageGroupName=name,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=1,
            )["ModelPackageSummaryList"][0]
            package = training.call(
                "sagemaker", "describe_model_package", ModelPackageName=latest["ModelPackageArn"]
            )
            url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
            bucket, key = aws.split_s3_uri(url)
            target.call(
                "s3",
                "copy_object",
                Bucket=env.artifact_bucket,
                Key=f"{env.artifact_key_prefix}naive/{name}.tar.gz",  # where the role may write
                CopySource={"Bucket": bucket, "Key": key},
            )
        ep = target.call("sagemaker", "describe_endpoint", EndpointName=env.endpoint.name)
        config = target.call(
            "sagemaker", "describe_endpoint_config", EndpointConfigName=ep["EndpointConfigName"]
        )
        new = f"{env.endpoint.name}-naive-{int(time.time())}"
        target.call(
            "sagemaker",
            "create_endpoint_config",
            EndpointConfigName=new,
            ProductionVariants=config["ProductionVariants"],
        )
        target.call(
            "sagemaker", "update_endpoint", EndpointName=env.endpoint.name, EndpointConfigName=new
        )
        # The seed article waits for its refresh to finish (minutes on AWS) before it is done.
        while (
            target.call("sagemaker", "describe_endpoint", EndpointName=env.endpoint.name)[
                "EndpointStatus"
            ]
            == "Updating"
        ):
            time.sleep(0.05)
    return c


def show(label: str, c: Counting) -> None:
    top = ", ".join(f"{op}={n}" for op, n in c.calls.most_common(12))
    print(
        f"{label:11s} calls={c.total:5d} sts={c.sts} endpoint_side={c.endpoint_side} "
        f"wall={c.wall:7.2f}s  {top}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    names = [f"bench-{i:04d}" for i in range(args.models)]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = make_repo(Path(tmp), names)
        pin(root, dict.fromkeys(names, 1))
        s = stack.enter_context(EmbeddedStack(ROOT, demo_rows=False))
        s.apply_env()
        t0 = time.perf_counter()
        repo = load_repo(root)
        print(
            f"load_repo: {args.models} model files parsed in {time.perf_counter() - t0:.1f}s "
            "(paid by every CLI run, not counted below)"
        )
        t = repo.settings.training
        t0 = time.perf_counter()
        register_all(
            aws.for_account(t.account_id, t.region, t.role_arn),
            repo.settings.bucket,
            names,
            args.workers,
        )
        print(f"setup: {args.models} packages registered in {time.perf_counter() - t0:.1f}s")

        show("first sync", measured_apply(root))
        noop = measured_apply(root)
        show("noop", noop)
        pin(root, {**dict.fromkeys(names, 1), names[0]: 2})
        one = measured_apply(root)
        show("one change", one)
        pin(root, dict.fromkeys(names, 1))
        rollback = measured_apply(root)
        show("rollback", rollback)
        naive = naive_sync(root, names)
        show("naive", naive)
        print(
            f"ratio naive/one_change calls={naive.total / one.total:.0f}x "
            f"wall={naive.wall / one.wall:.0f}x; naive/noop wall={naive.wall / noop.wall:.0f}x"
        )
        print(
            f"reconcile models={args.models} noop_calls={noop.total} "
            f"one_change_calls={one.total} rollback_calls={rollback.total} "
            f"naive_calls={naive.total} "
            f"rollback_endpoint_updates={rollback.calls['UpdateEndpoint']}"
        )


if __name__ == "__main__":
    main()
