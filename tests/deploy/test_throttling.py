"""Guarantee 3: with 30% of AWS requests throttled, apply still converges.

The embedded moto answers a seeded random 30% of signed requests (S3, SageMaker, STS, every
account) with the throttling error of each protocol (S3 `SlowDown` 503, JSON
`ThrottlingException` 400, query `Throttling` 400) before it acts on them
(`mmeops.stack.faults.throttling`). Nothing in mmeops knows: botocore's adaptive retries
(`mmeops.aws.RETRY_CONFIG`, 10 attempts) absorb them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_reconcile import SHA, World, add_model, isolate

from mmeops import aws
from mmeops.stack.faults import throttling

# The slow tier (make test-slow; CI runs it):
# a fault scenario: 30% of requests throttled, retried until they converge.
pytestmark = pytest.mark.slow

ENV = "qa"
MODELS = 2


@pytest.fixture
def world(stack, repo_copy: Path, monkeypatch) -> World:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    uid = isolate(repo_copy, "t")
    for path in (repo_copy / "environments").glob("*.yaml"):
        path.write_text(path.read_text().replace("promotion_from: sandbox", "promotion_from: null"))
    return World(repo_copy, uid)


def pin(world: World, versions: dict[str, int]) -> None:
    path = world.root / "environments" / f"{ENV}.yaml"
    head = path.read_text().split("models:")[0]
    path.write_text(head + "models:\n" + "".join(f"  {m}: {v}\n" for m, v in versions.items()))


def test_apply_converges_with_30_percent_of_calls_throttled(world: World) -> None:
    names = [f"t{world.uid}-{i}" for i in range(MODELS)]
    v1, v2 = {}, {}
    for name in names:
        add_model(world, name)
        v1[name], v2[name] = world.register(name, seed=1), world.register(name, seed=2)
    pin(world, v1)
    world.mmeops("reconcile", ENV, "--apply")

    # An upgrade of every model (copies, approvals, manifest, smoke tests), with every role
    # assumed again, throttled. Adaptive retries slow a fresh client down to about one request
    # a second under this rate, so the scenario is kept to a few dozen requests.
    pin(world, v2)
    with throttling(rate=0.3, seed=3) as faults:
        aws.reset_sessions()
        world.mmeops("reconcile", ENV, "--apply")

    requests = sum(faults.requests.values())
    print(f"{faults.total} of {requests} requests throttled ({dict(faults.counts)}), converged")
    assert {m: e["version"] for m, e in world.manifest(ENV)["models"].items()} == v2
    # Seeded per service, so the same requests are throttled on every run.
    assert faults.counts["s3"] >= 3 and faults.counts["sagemaker"] >= 3
    assert faults.counts["sts"] >= 1  # even assuming the roles
    assert 0.15 < faults.total / requests < 0.5  # 30% of first tries, and of their retries
    for name in names:
        assert world.package(name, v2[name])["ModelApprovalStatus"] == "Approved"
        assert world.invoke(ENV, name).strip()
    world.mmeops("reconcile", ENV, "--check")  # converged: in sync


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("s3", lambda c: c.list_buckets(), "SlowDown", 503),
        ("sagemaker", lambda c: c.list_endpoints(), "ThrottlingException", 400),
        ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),
    ],
)
def test_each_protocol_gets_its_own_throttling_error_and_only_while_on(
    stack, service, call, code, status
) -> None:
    """The injector's answers are what botocore retries as throttling; off by default."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from botocore.retries.standard import RetryContext, ThrottlingErrorDetector

    from mmeops.stack.iam.sessions import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY

    client = boto3.client(  # the stack's admin: the runner's own keys may only assume roles
        service,
        config=Config(retries={"max_attempts": 0}),
        aws_access_key_id=ADMIN_ACCESS_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET_ACCESS_KEY,
    )
    call(client)  # off: answered by moto
    with throttling(rate=1.0, services={service}) as faults, pytest.raises(ClientError) as caught:
        call(client)
    call(client)  # off again
    response = caught.value.response
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    context = RetryContext(attempt_number=1, parsed_response=response)
    assert ThrottlingErrorDetector(None).is_throttling_error_from_context(
        context
    )  # botocore retries it
    assert faults.counts[service] == 1
