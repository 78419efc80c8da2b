"""The front door's cost on the local stack: overhead against a direct InvokeEndpoint,
throughput at 8 clients, what capture at sample 1.0 costs, how soon a manifest change is served.

On a fresh embedded stack: one MME in the sandbox account, one XGBoost model (200 trees, depth
4, 10 features), a routing manifest naming it twice (`plain`, and `captured` with capture 1.0).

- overhead: closed loop, 1 client, one row per call. Direct: boto3 `invoke_endpoint`. Front
  door: HTTP keep-alive to `POST /models/plain/invocations` (which makes the same boto3 call).
  Overhead = front door minus direct, at p50 and p99, per run (`--calls` of each, interleaved
  call by call); the median of the runs.
- rps8: 8 clients, closed loop, requests per second through the front door (median of runs).
- capture_cost: 1 - rps8(captured) / rps8(plain) per run, the median of the runs; each run
  alternates `--slices` slices of each (`--seconds` per mode in all). A captured slice's time
  includes writing out the batches it filled and the run's last one the final flush, so
  capture's work is counted where it was caused (batches of 1000 records, as `mmeops invoker`).
- Runs and slices alternate and their order flips (direct/door, door/direct, ...; plain/
  captured, captured/plain, ...): a machine slowing down or speeding up (the CI machine is
  shared) weighs on both sides alike.
- manifest_visible_s: a new manifest (the model's version changed) written to S3, then one
  client polls until an answer names the new version.

    .venv/bin/python benchmarks/front_door.py [--calls 400] [--seconds 3] [--slices 6] [--runs 3]

Targets (issue 25): overhead p50 <= 1 ms, p99 <= 3 ms; capture_cost <= 0.10; manifest <= 5 s.
Last line:
`front_door overhead_p50_ms=A overhead_p99_ms=B rps8=C capture_cost=D manifest_visible_s=E runs=N`
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import boto3
import numpy as np
import xgboost as xgb
from botocore.config import Config

from mmeops import aws
from mmeops.artifact import pack
from mmeops.config.repo import load_repo
from mmeops.deploy.desired import execution_role
from mmeops.deploy.manifest import Manifest, ManifestEntry, read_manifest, write_manifest
from mmeops.invoker.capture import CaptureWriter
from mmeops.invoker.front_door import FrontDoor, Settings
from mmeops.invoker.server import InvokerServer
from mmeops.stack.embedded import EmbeddedStack

ROOT = Path(__file__).resolve().parents[1]
TARGET = "bench-fd/m.tar.gz"
MANIFEST_KEY = "bench-fd/_mmeops/manifest.json"
FEATURES = tuple(f"f{i}" for i in range(10))


def artifact() -> bytes:
    rng = np.random.default_rng(0)
    X = rng.random((1000, 10))
    booster = xgb.train({"max_depth": 4, "eta": 0.1}, xgb.DMatrix(X, label=X @ rng.random(10)), 200)
    return pack(booster)


def manifest(version: int) -> Manifest:
    def entry(capture: float | None) -> ManifestEntry:
        return ManifestEntry(TARGET, version, "arn", "0" * 64, 1, FEATURES, 10, capture=capture)

    return Manifest("bench", models={"plain": entry(None), "captured": entry(1.0)})


def admin_plain(stack: EmbeddedStack, account: str, region: str) -> aws.Aws:
    c = stack.admin(account, region).session.get_credentials().get_frozen_credentials()
    session = boto3.Session(
        aws_access_key_id=c.access_key, aws_secret_access_key=c.secret_key,
        aws_session_token=c.token, region_name=region,
    )  # fmt: skip
    return aws.Aws(session, region, account)


def make_endpoint(sandbox: aws.Aws, prefix: str, account: str) -> None:
    sandbox.call(
        "sagemaker",
        "create_model",
        ModelName="bench-fd",
        # The account's execution role (infra/bootstrap.yaml): the endpoint reads as it.
        ExecutionRoleArn=execution_role(load_repo(ROOT), account),
        PrimaryContainer={"Image": "xgboost", "Mode": "MultiModel", "ModelDataUrl": prefix},
    )
    sandbox.call(
        "sagemaker",
        "create_endpoint_config",
        EndpointConfigName="bench-fd",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "bench-fd",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sandbox.call(
        "sagemaker", "create_endpoint", EndpointName="bench-fd", EndpointConfigName="bench-fd"
    )
    while (
        sandbox.call("sagemaker", "describe_endpoint", EndpointName="bench-fd")["EndpointStatus"]
        != "InService"
    ):
        time.sleep(0.05)


class Client:
    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def post(self, model: str, body: bytes) -> bytes:
        self.conn.request(
            "POST", f"/models/{model}/invocations", body, {"Content-Type": "text/csv"}
        )
        r = self.conn.getresponse()
        out = r.read()
        assert r.status == 200, out
        return out


def timed(direct, door, calls: int, flip: bool) -> tuple[list[float], list[float]]:
    """Milliseconds per call of each, the two interleaved call by call (which goes first
    alternates): both see the same moments of a shared machine."""
    out: dict = {direct: [], door: []}
    for i in range(calls):
        for fn in (door, direct) if (i % 2 == 1) != flip else (direct, door):
            start = time.perf_counter()
            fn()
            out[fn].append((time.perf_counter() - start) * 1000)
    return out[direct], out[door]


def requests(url: str, model: str, body: bytes, seconds: float, clients: int = 8) -> int:
    """Requests answered by `clients` closed-loop clients in `seconds`."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        c = Client(url)
        while time.monotonic() < stop:
            c.post(model, body)
            done[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=3.0, help="per mode and run")
    parser.add_argument("--slices", type=int, default=6, help="alternations per run")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs; the median")
    args = parser.parse_args()
    with EmbeddedStack(ROOT) as stack:
        stack.apply_env()
        env = load_repo(ROOT).envs["sandbox"]
        # The stack's admin in the sandbox account for both sides (IAM is enforced: the
        # product's roles may not create a bare endpoint), through the environment's endpoint
        # variables, so InvokeEndpoint reaches the local MME, direct and through the door alike.
        sandbox = admin_plain(stack, env.account_id, env.region)
        bucket = env.artifact_bucket
        sandbox.put_bytes(bucket, f"mme/{TARGET}", artifact())
        make_endpoint(sandbox, env.artifact_prefix, env.account_id)
        write_manifest(sandbox, bucket, MANIFEST_KEY, manifest(1), None)
        settings = Settings("bench", env.region, bucket, MANIFEST_KEY, "bench-fd")
        # As `mmeops invoker` (1000 records a batch), without the 5 s timer: a timed flush
        # could land in a plain slice; the captured slices flush what they buffered.
        capture = CaptureWriter(sandbox, bucket)
        door = FrontDoor(settings, sandbox, capture=capture)
        server = InvokerServer(door)
        url = server.start()
        row = ",".join(f"{v:.6f}" for v in np.random.default_rng(9).random(10)).encode()
        runtime = sandbox.session.client(
            "sagemaker-runtime", config=Config(retries={"max_attempts": 1})
        )

        def direct() -> None:
            runtime.invoke_endpoint(
                EndpointName="bench-fd", TargetModel=TARGET, ContentType="text/csv",
                Accept="application/json", Body=row,
            )["Body"].read()  # fmt: skip

        client = Client(url)
        for _ in range(50):  # load the model, open connections, fill the manifest cache
            direct()
            client.post("plain", row)

        def door_call() -> None:
            client.post("plain", row)

        def throughput(flip: bool) -> tuple[float, float]:
            """(plain, captured) requests per second at 8 clients, from `--slices` alternating
            slices each. A captured slice's time includes writing the batches it filled (the
            sidecar drained) and the run's last one includes the final flush, so capture's
            work is counted where it was caused, never in a plain slice."""
            done, spent = {"plain": 0, "captured": 0}, {"plain": 0.0, "captured": 0.0}
            slice_s = args.seconds / args.slices
            for i in range(args.slices):
                order = ("captured", "plain") if (i % 2 == 1) != flip else ("plain", "captured")
                for mode in order:
                    start = time.monotonic()
                    done[mode] += requests(url, mode, row, slice_s)
                    if mode == "captured":
                        door.sidecar.drain(30)
                    spent[mode] += time.monotonic() - start
            start = time.monotonic()
            capture.flush()
            spent["captured"] += time.monotonic() - start
            return done["plain"] / spent["plain"], done["captured"] / spent["captured"]

        p50s, p99s, plain, captured = [], [], [], []
        for run in range(args.runs):
            flip = run % 2 == 1  # ABBA: a drifting machine weighs on both sides alike
            d, f = timed(direct, door_call, args.calls, flip)
            dp, fp = np.percentile(d, [50, 99]), np.percentile(f, [50, 99])
            p50s.append(fp[0] - dp[0])
            p99s.append(fp[1] - dp[1])
            print(f"  run {run + 1}: direct p50 {dp[0]:.2f} p99 {dp[1]:.2f} ms; front door p50 "
                  f"{fp[0]:.2f} p99 {fp[1]:.2f} ms")  # fmt: skip
            p, c = throughput(flip)
            plain.append(p)
            captured.append(c)
            print(f"  run {run + 1}: rps8 plain {p:.0f}, captured {c:.0f} ({1 - c / p:+.3f})")
        print(f"  capture objects written: {capture.objects_written}")

        _, etag = read_manifest(sandbox, bucket, MANIFEST_KEY)
        write_manifest(sandbox, bucket, MANIFEST_KEY, manifest(2), etag)
        written = time.monotonic()
        while json.loads(client.post("plain", row))["version"] != 2:
            time.sleep(0.01)
        visible = time.monotonic() - written
        server.stop()

    p50, p99 = statistics.median(p50s), statistics.median(p99s)
    rps8 = statistics.median(plain)
    cost = statistics.median(1 - c / p for c, p in zip(captured, plain, strict=True))
    print(f"front_door overhead_p50_ms={p50:.2f} overhead_p99_ms={p99:.2f} rps8={rps8:.0f} "
          f"capture_cost={cost:.3f} manifest_visible_s={visible:.2f} runs={args.runs}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
