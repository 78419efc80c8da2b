"""The front door (mmeops.invoker) against the embedded stack: a model called by name through
the routing manifest, on the local MME that answers as the real container does. The HTTP server
and the Lambda handler run the same FrontDoor; both are exercised here.

Error statuses are the contract in issue 25; the runtime errors they map are botocore's
sagemaker-runtime service model (ModelError 424 with OriginalStatusCode, ModelNotReadyException
429, ValidationError "Endpoint ... not found").
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deploy.test_reconcile import World, add_model, isolate
from helpers import settle_endpoint
from mmeops import aws
from mmeops.artifact import pack_file
from mmeops.config.repo import load_repo
from mmeops.deploy.manifest import ManifestEntry, read_manifest, write_manifest
from mmeops.errors import AwsError
from mmeops.invoker import lambda_handler
from mmeops.invoker.server import InvokerServer, front_door_for
from mmeops.stack.embedded import EmbeddedStack
from mmeops.stack.iam import middleware, service

# Not `from conftest import`: tests/workflows/ has a conftest of its own, and which module
# that name finds depends on the collection order.
REPO_ROOT = Path(__file__).resolve().parents[2]


def as_lambda(world: World, env: str = "sandbox") -> aws.Aws:
    """The front door's own identity: infra/invoker.yaml's role, which the stack created in
    the environment's account, in the session Lambda would hand the function."""
    e = world.env(env)
    return EmbeddedStack.current.lambda_aws(e.account_id, env, e.region)


class Door:
    """A running front door for one environment, under its Lambda role, and an HTTP client."""

    def __init__(self, world: World, env: str = "sandbox", metrics: Path | None = None):
        self.world = world
        repo = load_repo(world.root)
        self.server = InvokerServer(front_door_for(repo, env, metrics, as_lambda(world, env)))
        host, port = self.server.url.removeprefix("http://").split(":")
        self.server.start()
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def post(self, model: str, body: bytes | str, content_type: str = "text/csv", **headers):
        body = body.encode() if isinstance(body, str) else body
        self.conn.request(
            "POST",
            f"/models/{model}/invocations",
            body,
            {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}},
        )
        r = self.conn.getresponse()
        return r.status, json.loads(r.read()), dict(r.getheaders())

    def close(self) -> None:
        self.conn.close()
        self.server.stop()


def new_world(tmp_path_factory, tag: str) -> World:
    """A repo copy with its own prefixes and endpoint names, for a module's fixture."""
    root = tmp_path_factory.mktemp(tag) / "repo"
    root.mkdir()
    shutil.copy2(REPO_ROOT / "mmeops.yaml", root / "mmeops.yaml")
    for d in ("models", "environments"):
        shutil.copytree(REPO_ROOT / d, root / d)
    return World(root, isolate(root, tag))


@pytest.fixture(scope="module")
def deployed(stack, tmp_path_factory) -> tuple[World, str, int]:
    """One model, two registered versions, the first applied to sandbox."""
    world = new_world(tmp_path_factory, "fd")
    m = f"m{world.uid}-fd"
    add_model(world, m)
    v1 = world.register(m, seed=1)
    world.register(m, seed=2)
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    return world, m, v1


@pytest.fixture
def door(deployed):
    d = Door(deployed[0])
    yield d
    d.close()


def direct(world: World, model: str, rows: bytes) -> list:
    """What InvokeEndpoint itself answers for the same rows (application/json)."""
    return direct_target(world, world.manifest("sandbox")["models"][model]["target_model"], rows)


def direct_target(world: World, target: str, rows: bytes) -> list:
    e = world.env("sandbox")
    out = world.env_aws("sandbox").call(
        "sagemaker-runtime",
        "invoke_endpoint",
        EndpointName=e.endpoint.name,
        TargetModel=target,
        ContentType="text/csv",
        Accept="application/json",
        Body=rows,
    )
    return json.loads(out["Body"].read())


def test_a_model_is_called_by_name_and_answers_what_the_endpoint_answers(deployed, door):
    world, m, v1 = deployed
    status, answer, _ = door.post(m, "0.1,0.2,0.3\n-2,,1\n", X_Inference_Id="req-1")
    assert status == 200
    assert answer == {
        "model": m,
        "version": v1,
        "variant": "champion",
        "inference_id": "req-1",
        "predictions": direct(world, m, b"0.1,0.2,0.3\n-2,,1"),
    }
    assert answer["predictions"][0] != answer["predictions"][1]


def test_json_instances_and_records_by_name_answer_as_csv_does(deployed, door):
    world, m, _ = deployed
    names = world.manifest("sandbox")["models"][m]["feature_names"]
    assert len(names) == 3
    _, by_csv, _ = door.post(m, "0.5,-1,2")
    _, by_list, _ = door.post(m, '{"instances": [[0.5, -1, 2]]}', "application/json")
    record = dict(reversed(list(zip(names, [0.5, -1, 2], strict=True))))  # any order
    _, by_name, _ = door.post(m, json.dumps({"records": [record]}), "application/json")
    assert by_csv["predictions"] == by_list["predictions"] == by_name["predictions"]


class Counted:
    def __enter__(self):
        self.ops: list[str] = []
        self._remove = aws.add_call_listener(lambda s, op, p: self.ops.append(op))
        return self

    def __exit__(self, *exc):
        self._remove()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ("0.1,nan,0.3", "text/csv", 400, "not a finite number"),
        ("a,b,c\n0.1,0.2,0.3", "text/csv", 400, "looks like a header"),
        (b"0.1,\xff,0.3", "text/csv", 400, "not UTF-8"),
        ("0.1,0.2", "text/csv", 400, "has 2 columns, the model takes 3"),
        ('{"records": [{"zzz": 1}]}', "application/json", 400, "not a feature of the model"),
        (b"1," * (3 * 1024 * 1024) + b"1", "text/csv", 413, "6 MB"),
    ],
)
def test_a_bad_body_is_refused_before_the_endpoint_is_called(
    deployed, door, body, content_type, status, says
):
    _, m, _ = deployed
    with Counted() as good:  # the manifest is cached after it: the next request reads nothing
        door.post(m, "0.1,0.2,0.3")
    assert "InvokeEndpoint" in good.ops  # the counter sees the call a good body makes
    with Counted() as calls:
        got, answer, _ = door.post(m, body, content_type)
    assert (got, answer["code"][:3]) == (status, "Bod" if status == 413 else "Bad")
    assert says in answer["message"] and "\n" not in answer["message"]
    assert "InvokeEndpoint" not in calls.ops


def test_an_unknown_model_is_404(door):
    status, answer, _ = door.post("no-such-model", "1,2,3")
    assert (status, answer["code"]) == (404, "UnknownModel")


def test_a_new_manifest_is_served_within_seconds(deployed, door):
    world, m, v1 = deployed
    assert door.post(m, "1,2,3")[1]["version"] == v1
    v2 = v1 + 1
    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    try:
        world.mmeops("reconcile", "sandbox", "--apply")
        written = time.monotonic()
        while door.post(m, "1,2,3")[1]["version"] != v2:
            assert time.monotonic() - written < 5, "the new manifest was not served in 5 s"
            time.sleep(0.05)
        cache = door.server.door.manifest
        reads = cache.reads
        time.sleep(cache.max_age * 2.5)
        door.post(m, "1,2,3")
        door.post(m, "1,2,3")
        assert cache.reads <= reads + 1  # one conditional GET per max_age, not one per request
    finally:
        world.mmeops("promote", m, str(v1), "--to", "sandbox")
        world.mmeops("reconcile", "sandbox", "--apply")


def route_to(world: World, model: str, entry: ManifestEntry) -> None:
    """Write a manifest entry by hand, as a broken deploy might have left it."""
    e = world.env("sandbox")
    a = world.env_aws("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    manifest, etag = read_manifest(a, e.artifact_bucket, key)
    manifest.models[model] = entry
    write_manifest(a, e.artifact_bucket, key, manifest, etag)


def test_a_model_the_container_cannot_load_is_424_with_its_status(deployed, door):
    world, _, _ = deployed
    e = world.env("sandbox")
    broken = f"m{world.uid}-broken"
    target = f"{broken}/v1.tar.gz"
    world.env_aws("sandbox").put_bytes(
        e.artifact_bucket, e.artifact_key_prefix + target, pack_file(b"not a model")
    )
    route_to(world, broken, ManifestEntry(target, 1, "arn", "0" * 64, 1, ("a", "b", "c"), 3))
    deadline = time.monotonic() + 5
    while (answer := door.post(broken, "1,2,3"))[0] == 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status, body, _ = answer
    assert (status, body["code"], body["container_status"]) == (424, "ModelError", 500)


def test_a_model_still_loading_is_429_with_retry_after(deployed, door, stack, monkeypatch):
    world, m, _ = deployed
    stack.endpoints.forget(world.env("sandbox").endpoint.name)  # a fresh fleet: nothing loaded
    monkeypatch.setattr(stack.endpoints, "load_seconds", 1.0)
    monkeypatch.setattr(stack.endpoints, "wait_seconds", 0.1)
    status, body, headers = door.post(m, "1,2,3")
    assert (status, body["code"], headers["Retry-After"]) == (429, "ModelNotReady", "5")


def test_an_endpoint_that_is_not_there_is_503(deployed):
    """The endpoint its role may invoke is gone (deleted, or not yet created): the runtime's
    ValidationError "Endpoint ... not found" is a 503 with Retry-After. The endpoint is put
    back for the tests after this one."""
    world, m, _ = deployed
    e = world.env("sandbox")
    admin = EmbeddedStack.current.admin(e.account_id, e.region)
    name = e.endpoint.name
    config = admin.call("sagemaker", "describe_endpoint", EndpointName=name)["EndpointConfigName"]
    admin.call("sagemaker", "delete_endpoint", EndpointName=name)
    try:
        d = Door(world)
        status, body, headers = d.post(m, "1,2,3")
        d.close()
    finally:
        admin.call("sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=config)
        settle_endpoint(admin, name)
    assert (status, body["code"], headers["Retry-After"]) == (503, "EndpointNotReady", "30")


def event(model: str, body: bytes, content_type: str, *, binary: bool = False) -> dict:
    """A Function URL request, payload format 2.0 (AWS docs, "Invoking Lambda function URLs":
    rawPath, lower-case headers, requestContext.http.method, body base64 when binary)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"/models/{model}/invocations",
        "rawQueryString": "",
        "headers": {"content-type": content_type, "x-route-key": "customer-7"},
        "requestContext": {"http": {"method": "POST", "path": f"/models/{model}/invocations"}},
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
    }


def test_the_lambda_handler_answers_as_the_server_does(deployed, door, monkeypatch):
    world, m, v1 = deployed
    e = world.env("sandbox")
    for k, v in {
        "MMEOPS_ENVIRONMENT": "sandbox",
        "AWS_REGION": e.region,
        "MMEOPS_BUCKET": e.artifact_bucket,
        "MMEOPS_MANIFEST_KEY": e.artifact_key_prefix + "_mmeops/manifest.json",
        "MMEOPS_ENDPOINT_NAME": e.endpoint.name,
    }.items():
        monkeypatch.setenv(k, v)
    # In Lambda the execution role's credentials are ambient: here its session from the stack.
    monkeypatch.setattr(lambda_handler, "base_session", lambda: as_lambda(world).session)
    monkeypatch.setattr(lambda_handler, "_door", None)

    out = lambda_handler.handler(event(m, b"0.1,0.2,0.3", "text/csv"))
    assert out["statusCode"] == 200 and out["headers"]["Content-Type"] == "application/json"
    answer = json.loads(out["body"])
    assert (answer["version"], answer["predictions"]) == (
        v1,
        door.post(m, "0.1,0.2,0.3")[1]["predictions"],
    )

    refused = lambda_handler.handler(event(m, b"0.1,\xff,0.3", "text/csv", binary=True))
    assert refused["statusCode"] == 400 and "not UTF-8" in json.loads(refused["body"])["message"]


# --- its role: infra/invoker.yaml's, as Lambda would run it --------------------------------


@contextlib.contextmanager
def captured(world: World, model: str):
    """The model's manifest entry with capture at 1.0 for the block."""
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    entry = read_manifest(world.env_aws("sandbox"), e.artifact_bucket, key)[0].models[model]
    route_to(world, model, dataclasses.replace(entry, capture=1.0))
    try:
        yield
    finally:
        route_to(world, model, entry)


@contextlib.contextmanager
def invoker_policy_without(world: World, sid: str):
    """The front door's role with one statement of its template's policy taken out (as the
    stack's admin: tampering, not the product)."""
    e = world.env("sandbox")
    admin = EmbeddedStack.current.admin(e.account_id)
    role = EmbeddedStack.current.world.invoker_role(e.account_id, "sandbox").rsplit("/", 1)[-1]
    got = admin.call("iam", "get_role_policy", RoleName=role, PolicyName="front-door")
    policy = got["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    cut = {**policy, "Statement": [x for x in policy["Statement"] if x.get("Sid") != sid]}
    assert len(cut["Statement"]) == len(policy["Statement"]) - 1
    put = {"RoleName": role, "PolicyName": "front-door"}
    admin.call("iam", "put_role_policy", **put, PolicyDocument=json.dumps(cut))
    try:
        yield
    finally:
        admin.call("iam", "put_role_policy", **put, PolicyDocument=json.dumps(policy))


def _capture_through(world: World, model: str) -> tuple[int, dict, Door]:
    """One call through a running front door, its capture still buffered (the caller closes
    the door, which writes it out)."""
    door = Door(world)
    try:
        status, answer, _ = door.post(model, "0.5,-1,2")
        assert door.server.door.sidecar.drain()
    except BaseException:
        door.close()
        raise
    return status, answer, door


def flushers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "capture-flusher"}


def test_the_front_door_invokes_and_captures_as_its_lambda_role(deployed):
    """Locally as in AWS the front door holds infra/invoker.yaml's role (trusting
    lambda.amazonaws.com), under IAM enforcement: the manifest read, the call and the
    capture written (SSE-KMS through the bucket's key) all pass its policy."""
    world, m, v1 = deployed
    e = world.env("sandbox")
    door = Door(world)
    try:
        who = door.server.door.identity()
    finally:
        door.close()
    assert who == (
        f"arn:aws:sts::{e.account_id}:assumed-role/mmeops-invoker-sandbox-Role/"
        "mmeops-invoker-sandbox"
    )
    running = flushers()
    with captured(world, m):
        status, answer, door = _capture_through(world, m)
        # Stopping the door writes out its capture at once (the flusher would wait 5 s, and
        # `mmeops invoker` stopped by Ctrl-C would lose it), and leaves no thread behind.
        door.close()
    assert flushers() == running
    assert (status, answer["version"]) == (200, v1)
    admin = EmbeddedStack.current.admin(e.account_id)
    keys = [o.key for o in admin.list_objects(e.artifact_bucket, f"capture/sandbox/{m}/v{v1}/")]
    bodies = [admin.get_bytes(e.artifact_bucket, k)[0] for k in keys]
    records = [json.loads(x) for body in bodies for x in body.splitlines()]
    assert answer["inference_id"] in {r["eventMetadata"]["inferenceId"] for r in records}


def test_mmeops_invoker_stopped_by_sigterm_writes_its_capture(deployed, stack):
    """`mmeops invoker ENV` is stopped with SIGTERM by `mmeops stack down` and by service
    managers (docker stop, systemd): it writes out what it buffered for capture first, as on
    Ctrl-C, instead of losing up to 5 s of records. Run as `stack up` runs it: a process of
    its own, under the credentials the stack issued its Lambda role."""
    world, m, v1 = deployed
    e = world.env("sandbox")
    creds = EmbeddedStack.current.lambda_credentials(e.account_id, "sandbox", e.region)
    env = {**os.environ, **stack.env, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"]}  # fmt: skip
    with captured(world, m):
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mmeops"), "--repo", str(world.root),
             "invoker", "sandbox", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        try:
            url = re.search(r" on (http://\S+)", proc.stdout.readline()).group(1)
            host, port = url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("POST", f"/models/{m}/invocations", b"0.5,-1,2",
                         {"Content-Type": "text/csv"})  # fmt: skip
            answer = json.loads(conn.getresponse().read())
            conn.close()
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, out
    admin = EmbeddedStack.current.admin(e.account_id)
    keys = [o.key for o in admin.list_objects(e.artifact_bucket, f"capture/sandbox/{m}/v{v1}/")]
    bodies = [admin.get_bytes(e.artifact_bucket, k)[0] for k in keys]
    ids = {json.loads(x)["eventMetadata"]["inferenceId"] for b in bodies for x in b.splitlines()}
    assert answer["inference_id"] in ids


def test_without_its_capture_statement_the_role_cannot_capture(deployed):
    """The test of the test: WriteCapture taken out of the role's policy, the same call still
    answers (capture never fails the client) and the capture write is refused by IAM."""
    world, m, _ = deployed
    with captured(world, m), invoker_policy_without(world, "WriteCapture"):
        status, _, door = _capture_through(world, m)
        with middleware.expecting() as log, pytest.raises(AwsError) as refused:
            door.close()
    assert status == 200
    assert refused.value.code == "AccessDenied"
    assert [d.action for d in log.denied] == ["s3:PutObject"]


def test_a_role_that_does_not_trust_lambda_gets_no_session(deployed):
    """The trust is judged: a role trusting another service is refused to Lambda."""
    world, _, _ = deployed
    e = world.env("sandbox")
    stack = EmbeddedStack.current
    arn = stack.world.invoker_role(e.account_id, "sandbox")
    admin = stack.admin(e.account_id)
    role = admin.call("iam", "get_role", RoleName=arn.rsplit("/", 1)[-1])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    other = json.loads(json.dumps(trust).replace("lambda.amazonaws.com", "ecs-tasks.amazonaws.com"))
    name = {"RoleName": arn.rsplit("/", 1)[-1]}
    admin.call("iam", "update_assume_role_policy", **name, PolicyDocument=json.dumps(other))
    try:
        with pytest.raises(service.TrustRefused):
            stack.lambda_credentials(e.account_id, "sandbox", e.region)
    finally:
        admin.call("iam", "update_assume_role_policy", **name, PolicyDocument=json.dumps(trust))
    stack.lambda_credentials(e.account_id, "sandbox", e.region)  # trusted again
