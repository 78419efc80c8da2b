"""Issue 25, item 5: the plan of a pull request that makes a live canary the champion shows
`mmeops canary`'s verdict and figures, read from capture as the plan job reads it on GitHub:
as the environment's reader role (the `ENV-readonly` web-identity exchange), on the stack that
enforces IAM with infra/bootstrap.yaml's policies (ReaderRole's ListCapture and ReadCapture).

The mutation: the reader policy without those two statements, as it was before; S3 then
refuses the capture listing (403 AccessDenied) and the plan says the capture was not read.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from deploy.test_reconcile import add_model
from invoker.test_front_door import Door, new_world
from mmeops import aws
from mmeops.cli import main
from mmeops.stack.iam import github_oidc, middleware
from stack.test_iam_paths import _policy, _put_policy, as_workflow

REQUESTS = 240
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def as_front_door(stack, world, env_name: str = "sandbox"):
    """This process as the front door's role (docs/iam/invoker-role.json, which equals
    infra/invoker.yaml's), created in the environment's account as its template would. Its
    trust names the account instead of the Lambda service: locally nothing is Lambda."""
    env = world.env(env_name)
    admin = stack.admin(env.account_id)
    bucket = env.artifact_bucket
    rule = admin.call("s3", "get_bucket_encryption", Bucket=bucket)
    sse = rule["ServerSideEncryptionConfiguration"]["Rules"][0]
    key = sse["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    values = {
        "AWS::Partition": "aws", "AWS::Region": env.region, "AWS::AccountId": env.account_id,
        "BucketName": bucket, "ArtifactPrefix": env.artifact_key_prefix,
        "EndpointName": env.endpoint.name, "Environment": env_name, "KeyArn": key,
        "LogGroup.Arn": f"arn:aws:logs:{env.region}:{env.account_id}:log-group:/mmeops/front",
    }  # fmt: skip
    text = (ROOT / "docs" / "iam" / "invoker-role.json").read_text()
    policy = re.sub(r"\$\{([\w:.]+)\}", lambda m: values[m[1]], text)
    name = f"mmeops-invoker-{env_name}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{env.account_id}:root"}}]}  # fmt: skip
    with contextlib.suppress(aws.AwsError):  # a second fixture in the same account
        admin.call("iam", "create_role", RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    admin.call("iam", "put_role_policy", RoleName=name, PolicyName=name, PolicyDocument=policy)
    creds = admin.call(
        "sts", "assume_role", RoleArn=f"arn:aws:iam::{env.account_id}:role/{name}",
        RoleSessionName="front-door",
    )["Credentials"]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for k, v in github_oidc.environment_variables(creds).items():
            mp.setenv(k, v)
        aws.reset_sessions()
        try:
            yield
        finally:
            aws.reset_sessions()


@pytest.fixture(scope="module")
def canaried(stack, tmp_path_factory):
    """v1 champion, v2 canary at 50% with every request captured, traffic through the front
    door; then the pull request's change: v2 promoted to `version` (the canary ends)."""
    world = new_world(tmp_path_factory, "cp")
    env_file = world.root / "environments" / "sandbox.yaml"
    m = f"m{world.uid}-cp"
    add_model(world, m)
    v1, v2 = (world.register(m, seed=s) for s in (1, 2))
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("promote", m, "--canary", str(v2), "--weight", "50", "--to", "sandbox")
    env_file.write_text(env_file.read_text() + "capture: {sample: 1.0}\n")
    world.mmeops("reconcile", "sandbox", "--apply")
    with as_front_door(stack, world):
        _traffic(world, m)
    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    return world, m, v1, v2


def _traffic(world, m: str) -> None:
    rows = np.random.default_rng(3).normal(size=(REQUESTS, 3))
    door = Door(world)
    try:
        for i, row in enumerate(rows):
            status, _, _ = door.post(m, ",".join(f"{v:.3f}" for v in row), X_Route_Key=f"c{i}")
            assert status == 200
        front = door.server.door
        assert front.sidecar.drain()
        front.capture.flush()
    finally:
        door.close()


def _as_reader(stack, monkeypatch, world, *args: str) -> tuple[int, str]:
    """`mmeops ARGS` in a job of `sandbox-readonly` (a plan's job): the reader role."""
    env = world.env("sandbox")
    as_workflow(stack, monkeypatch, env.reader_role_arn, "sandbox-readonly")
    result = CliRunner().invoke(main, ["--repo", str(world.root), *args])
    problem = "" if isinstance(result.exception, SystemExit) else str(result.exception or "")
    return result.exit_code, result.output + problem


PLAN = ("reconcile", "sandbox", "--plan", "--output", "markdown")


def test_the_plan_shows_the_canary_verdict_and_its_figures(stack, monkeypatch, canaried):
    world, m, v1, v2 = canaried
    canary_code, canary = _as_reader(stack, monkeypatch, world, "canary", "sandbox", m)
    code, out = _as_reader(stack, monkeypatch, world, *PLAN)
    assert code == 0, out
    # What `mmeops canary` says (its exit code is its verdict) is what the reviewer sees.
    verdict = {0: "pass", 3: "fail", 4: "not enough data"}[canary_code]
    head = f"**Canary verdict** for `{m}` (canary v{v2} → champion): **{verdict}**"
    assert head in out, out
    (line,) = [x for x in out.splitlines() if head in x]
    mine, theirs = (int(n) for n in line.split("(")[2].split(" captured")[0].split(" and "))
    assert mine + theirs == REQUESTS and min(mine, theirs) > 0  # every request was captured
    figures = [x.strip() for x in canary.splitlines()[2:]]
    assert figures and all(f"- {f}" in out for f in figures), (figures, out)
    assert "KS distance" in out and "p99 latency" in out


def test_the_plan_says_so_when_the_reader_may_not_read_capture(stack, monkeypatch, canaried):
    world, m, _, v2 = canaried
    account, name = world.env("sandbox").account_id, "mmeops-reader"
    doc = _policy(stack, account, name, name)
    was = {**doc, "Statement": [s for s in doc["Statement"]
                                if s.get("Sid") not in ("ListCapture", "ReadCapture")]}  # fmt: skip
    assert len(was["Statement"]) == len(doc["Statement"]) - 2
    _put_policy(stack, account, name, name, was)
    try:
        with middleware.expecting() as log:
            code, out = _as_reader(stack, monkeypatch, world, *PLAN)
    finally:
        _put_policy(stack, account, name, name, doc)
    assert code == 0, out  # the plan itself stands
    assert f"⚠️ **Canary verdict** for `{m}` (canary v{v2} → champion): capture not read" in out
    assert "s3:ListBucket" in out and "pass" not in out.split("capture not read")[1][:200]
    assert [d.action for d in log.denied] == ["s3:ListBucket"]
