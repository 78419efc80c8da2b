"""Reconcile against the embedded stack: real S3, registry and endpoint calls through moto,
smoke tests through the local MME server. Each test gets its own models, artifact prefix and
endpoint names, so tests sharing the session's stack never see each other's state."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import xgboost
from click.testing import CliRunner

from helpers import isolate
from mmeops import aws
from mmeops.artifact import pack, pack_file
from mmeops.aws import split_s3_uri
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.register.expected import write_expected

SHA = "0123456789abcdef0123456789abcdef01234567"


# --- setup: a repo copy with private names, packages registered in the training account ---


class World:
    def __init__(self, root: Path, uid: str):
        self.root = root
        self.uid = uid
        self.repo = load_repo(root)
        t = self.repo.settings.training
        self.training = aws.for_account(t.account_id, t.region, t.role_arn)

    def env_aws(self, env: str) -> aws.Aws:
        e = load_repo(self.root).envs[env]
        return aws.for_account(e.account_id, e.region, e.role_arn)

    def env(self, env: str):
        return load_repo(self.root).envs[env]

    def admin(self, account_id: str) -> aws.Aws:
        """The stack's admin in an account: for what a test inspects or breaks on purpose
        beyond the product's roles (IAM is enforced; the roles are never widened for tests)."""
        from mmeops.stack.embedded import EmbeddedStack

        return EmbeddedStack.current.admin(account_id)

    def manifest(self, env: str) -> dict:
        e = self.env(env)
        body, _ = self.env_aws(env).get_bytes(
            e.artifact_bucket, e.artifact_key_prefix + "_mmeops/manifest.json"
        )
        return json.loads(body)

    def register(
        self, model: str, *, corrupt: bool = False, seed: int = 0, answers_differ: bool = False
    ) -> int:
        """A package like `mmeops register` makes: PendingManualApproval, metadata, a real
        one-file xgboost artifact and a sample in the training bucket."""
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(40, 3))
        booster = xgboost.train(
            {"max_depth": 2}, xgboost.DMatrix(x, label=x[:, 0] * 2), num_boost_round=3
        )
        artifact = pack_file(b"not a model at all") if corrupt else pack(booster)
        if answers_differ:  # an artifact that loads and predicts, other numbers than recorded
            other = xgboost.train(
                {"max_depth": 2}, xgboost.DMatrix(x, label=x[:, 1]), num_boost_round=3
            )
            artifact = pack(other)
        bucket = self.repo.settings.bucket
        run = uuid.uuid4().hex[:8]
        art_key = f"tuning/{model}/{run}/model.tar.gz"
        sample_key = f"evaluations/{model}/{run}/sample.csv"
        self.training.put_bytes(bucket, art_key, artifact)
        sample = "\n".join(",".join(f"{v:.4f}" for v in row) for row in x[:3])
        self.training.put_bytes(bucket, sample_key, sample.encode())
        # What `mmeops register` stores with it: the model's own answers for the sample.
        write_expected(
            self.training, f"s3://{bucket}/{sample_key}", booster, sample, ["a", "b", "c"]
        )
        with contextlib.suppress(aws.AwsError):  # the group exists already
            self.training.call(
                "sagemaker", "create_model_package_group", ModelPackageGroupName=model
            )

        arn = self.training.call(
            "sagemaker",
            "create_model_package",
            ModelPackageGroupName=model,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {"Image": "xgboost:3.2-0", "ModelDataUrl": f"s3://{bucket}/{art_key}"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={
                "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
                "artifact_size": str(len(artifact)),
                "sample_uri": f"s3://{bucket}/{sample_key}",
                "image_version": "3.2-0",
                "xgboost_version": xgboost.__version__,
                "git_commit": SHA,
            },
        )["ModelPackageArn"]
        return int(arn.rsplit("/", 1)[1])

    def package(self, model: str, version: int) -> dict:
        t = self.repo.settings.training
        arn = f"arn:aws:sagemaker:{t.region}:{t.account_id}:model-package/{model}/{version}"
        return self.training.call("sagemaker", "describe_model_package", ModelPackageName=arn)

    def reject(self, model: str, version: int) -> None:
        """Reject a package as a reviewer would: the status and why, nothing else. A reviewer
        is a person in the console, no role of the product: the stack's admin stands in."""
        self.admin(self.repo.settings.training.account_id).call(
            "sagemaker",
            "update_model_package",
            ModelPackageArn=self.package(model, version)["ModelPackageArn"],
            ModelApprovalStatus="Rejected",
            ApprovalDescription="bad",
        )

    def mmeops(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, ["--repo", str(self.root), *args])
        assert result.exit_code == code, result.output + str(result.exception or "")
        return result.output

    def invoke(self, env: str, model: str) -> str:
        e = self.env(env)
        target = self.manifest(env)["models"][model]["target_model"]
        out = self.env_aws(env).call(
            "sagemaker-runtime",
            "invoke_endpoint",
            EndpointName=e.endpoint.name,
            TargetModel=target,
            ContentType="text/csv",
            Body=b"0.1,0.2,0.3",
        )
        return out["Body"].read().decode()


@pytest.fixture
def world(stack, repo_copy: Path, monkeypatch) -> World:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    return World(repo_copy, isolate(repo_copy, "t"))


def add_model(world: World, name: str) -> None:
    src = world.root / "models" / "diabetes-progression"
    dst = world.root / "models" / name
    dst.mkdir()
    (dst / "query.sql").write_text((src / "query.sql").read_text())
    (dst / "model.yaml").write_text(
        (src / "model.yaml").read_text().replace("name: diabetes-progression", f"name: {name}")
    )


def deploy_one(world: World, suffix: str) -> tuple[str, int]:
    """A new model, registered once and applied to sandbox: (name, version)."""
    m = f"m{world.uid}-{suffix}"
    add_model(world, m)
    v = world.register(m)
    world.mmeops("promote", m, str(v), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    return m, v


ENDPOINT_THREADS = ("process_request_thread", "mme-load")


class Calls:
    """Every AWS call made while it is active, through mmeops.aws's listener."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []

    def __enter__(self):
        self._remove = aws.add_call_listener(self._on)
        self.reconcile: list[tuple[str, dict]] = []  # reconcile's own: no STS, no endpoint side
        return self

    def _on(self, service: str, op: str, params: dict) -> None:
        self.calls.append((service, op, params))
        thread = threading.current_thread().name
        # The local MME's request and model-load threads: what the endpoint reads, not us.
        if service != "sts" and not any(t in thread for t in ENDPOINT_THREADS):
            self.reconcile.append((op, params))

    def __exit__(self, *exc):
        self._remove()

    def mutating(self) -> list[tuple[str, str]]:
        return [(s, op) for s, op, _ in self.calls if aws.is_mutating(op)]

    def ops(self, name: str) -> int:
        return sum(1 for _, op, _ in self.calls if op == name)


# --- the scenarios ----------------------------------------------------------------------


def test_promotion_through_sandbox_qa_prod_and_a_revert(world: World) -> None:
    m = f"m{world.uid}-a"
    add_model(world, m)
    v1, v2 = world.register(m, seed=1), world.register(m, seed=2)

    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    plan = world.mmeops("reconcile", "sandbox", "--plan", "--output", "json")
    rows = {r["model"]: r for r in json.loads(plan)["models"]}
    assert rows[m]["status"] == "out of sync" and rows[m]["desired"] == v1
    world.mmeops("reconcile", "sandbox", "--apply")
    assert world.manifest("sandbox")["models"][m]["version"] == v1
    assert world.invoke("sandbox", m).strip()  # the endpoint serves it
    # sandbox has approve: false: the registry is left as it was
    assert world.package(m, v1)["ModelApprovalStatus"] == "PendingManualApproval"

    # prod promotes from qa, which does not pin it yet: refused, nothing written
    out = world.mmeops("promote", m, str(v1), "--to", "prod", code=2)
    assert "environments/qa.yaml" in out and "promote it to qa first" in out

    world.mmeops("promote", m, str(v1), "--to", "qa")
    world.mmeops("reconcile", "qa", "--apply")
    world.mmeops("promote", m, str(v1), "--to", "prod")
    world.mmeops("reconcile", "prod", "--apply")
    approved = world.package(m, v1)
    assert approved["ModelApprovalStatus"] == "Approved"
    assert SHA in approved["ApprovalDescription"]
    assert approved["CustomerMetadataProperties"]["sample_uri"]  # metadata survived

    for env in ("sandbox", "qa", "prod"):
        world.mmeops("promote", m, str(v2), "--to", env)
        world.mmeops("reconcile", env, "--apply")
    prod_file = world.root / "environments" / "prod.yaml"
    assert world.manifest("prod")["models"][m]["version"] == v2
    assert world.manifest("prod")["git_sha"] == SHA

    # git revert of prod's file: back to v1, a manifest write only
    prod_file.write_text(prod_file.read_text().replace(f"{m}: {v2}", f"{m}: {v1}"))
    with Calls() as calls:
        out = world.mmeops("reconcile", "prod", "--apply", "--output", "markdown")
    assert out.startswith("✅") and "rollback" in out
    assert world.manifest("prod")["models"][m]["version"] == v1
    assert calls.ops("CopyObject") == 0 and calls.ops("UpdateEndpoint") == 0
    assert world.invoke("prod", m).strip()

    # right after: a second apply makes no mutating call at all (not even a lease)
    with Calls() as calls:
        world.mmeops("reconcile", "prod", "--apply")
    assert calls.mutating() == []
    world.mmeops("reconcile", "prod", "--check")


def test_check_exits_3_after_someone_deletes_an_artifact(world: World) -> None:
    m = f"m{world.uid}-b"
    add_model(world, m)
    v = world.register(m)
    world.mmeops("promote", m, str(v), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("reconcile", "sandbox", "--check")
    e = world.env("sandbox")
    world.env_aws("sandbox").call(
        "s3",
        "delete_object",
        Bucket=e.artifact_bucket,
        Key=f"{e.artifact_key_prefix}{m}/v{v}.tar.gz",
    )
    out = world.mmeops("reconcile", "sandbox", "--check", code=3)
    assert f"artifact {e.artifact_key_prefix}{m}/v{v}.tar.gz is missing" in out
    world.mmeops("reconcile", "sandbox", "--apply")  # copies it again
    world.mmeops("reconcile", "sandbox", "--check")


def test_a_live_lease_blocks_with_owner_and_age_and_a_stale_one_is_taken_over(world):
    m = f"m{world.uid}-c"
    add_model(world, m)
    v = world.register(m)
    world.mmeops("promote", m, str(v), "--to", "sandbox")
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/lease.json"
    live = {
        "owner": "octo/repo run 42",
        "acquired": "2026-01-01T00:00:00+00:00",
        "expires": "2999-01-01T00:00:00+00:00",
    }
    world.env_aws("sandbox").put_bytes(e.artifact_bucket, key, json.dumps(live).encode())
    out = world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert "owner octo/repo run 42" in out and "ago" in out
    assert world.env_aws("sandbox").head(e.artifact_bucket, key) is not None  # left alone

    stale = {**live, "expires": "2026-01-01T00:30:00+00:00"}
    world.env_aws("sandbox").put_bytes(e.artifact_bucket, key, json.dumps(stale).encode())
    world.mmeops("reconcile", "sandbox", "--apply")
    assert world.env_aws("sandbox").head(e.artifact_bucket, key) is None  # released


def test_a_failed_smoke_test_never_routes_the_model_and_exits_1(world: World) -> None:
    m = f"m{world.uid}-d"
    add_model(world, m)
    good, bad = world.register(m), world.register(m, corrupt=True)
    world.mmeops("promote", m, str(good), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("promote", m, str(bad), "--to", "sandbox")
    out = world.mmeops("reconcile", "sandbox", "--apply", "--output", "json", code=1)
    result = json.loads(out[: out.rindex("}") + 1])
    (row,) = [r for r in result["models"] if r["model"] == m]
    assert row["status"] == "sync failed" and "smoke test failed" in row["message"]
    assert world.manifest("sandbox")["models"][m]["version"] == good
    assert world.invoke("sandbox", m).strip()  # still served by the good version
    # Tested before routing: no version of the manifest S3 kept ever routed to the bad one.
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    env_aws = world.admin(e.account_id)  # every version: more than the deployer may list
    versions = env_aws.call("s3", "list_object_versions", Bucket=e.artifact_bucket, Prefix=key)
    for v in versions["Versions"]:
        body = env_aws.call(
            "s3", "get_object", Bucket=e.artifact_bucket, Key=key, VersionId=v["VersionId"]
        )["Body"].read()
        assert json.loads(body)["models"].get(m, {}).get("version") != bad


def test_a_rejected_or_unknown_version_exits_2_naming_the_line(world: World) -> None:
    m = f"m{world.uid}-e"
    add_model(world, m)
    v = world.register(m)
    world.reject(m, v)
    # promote refuses it (issue 17); a hand edit of the file is still refused by the plan.
    assert "is Rejected in the registry" in world.mmeops(
        "promote", m, str(v), "--to", "sandbox", code=2
    )
    sandbox = world.root / "environments" / "sandbox.yaml"
    sandbox.write_text(sandbox.read_text().replace("models: {}", f"models:\n  {m}: {v}"))
    out = world.mmeops("reconcile", "sandbox", "--plan", code=2)
    line = next(
        i
        for i, t in enumerate(
            (world.root / "environments" / "sandbox.yaml").read_text().splitlines(), 1
        )
        if m in t
    )
    assert f"environments/sandbox.yaml:{line}: {m} v{v} is Rejected" in out
    assert "is not in the registry" in world.mmeops(
        "promote", m, str(v + 5), "--to", "sandbox", code=2
    )
    sandbox.write_text(sandbox.read_text().replace(f"{m}: {v}", f"{m}: {v + 5}"))
    out = world.mmeops("reconcile", "sandbox", "--apply", code=2)
    assert "is not in the registry" in out


def test_removed_models_are_pruned_only_with_prune(world: World) -> None:
    a, b = f"m{world.uid}-f", f"m{world.uid}-g"
    for name in (a, b):
        add_model(world, name)
        world.mmeops("promote", name, str(world.register(name)), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    path = world.root / "environments" / "sandbox.yaml"
    path.write_text("\n".join(t for t in path.read_text().splitlines() if b not in t) + "\n")
    out = world.mmeops("reconcile", "sandbox", "--apply", "--output", "json")
    rows = {r["model"]: r["status"] for r in json.loads(out)["models"]}
    assert rows[b] == "prune skipped" and b in world.manifest("sandbox")["models"]
    out = world.mmeops("reconcile", "sandbox", "--apply", "--prune", "--output", "json")
    assert {r["model"]: r["status"] for r in json.loads(out)["models"]}[b] == "pruned"
    assert b not in world.manifest("sandbox")["models"]
    e = world.env("sandbox")
    assert not world.env_aws("sandbox").list_objects(
        e.artifact_bucket, f"{e.artifact_key_prefix}{b}/"
    )


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_stable_names_refresh_the_endpoint_and_a_failure_puts_the_old_model_back(world):
    m = f"m{world.uid}-h"
    add_model(world, m)
    v1, v2, bad = (
        world.register(m, seed=1),
        world.register(m, seed=2),
        world.register(m, corrupt=True),
    )
    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("naming: versioned", "naming: stable"))
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    assert world.manifest("sandbox")["models"][m]["target_model"] == f"{m}.tar.gz"
    first = world.invoke("sandbox", m)

    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    with Calls() as calls:
        world.mmeops("reconcile", "sandbox", "--apply")
    assert calls.ops("UpdateEndpoint") == 1
    second = world.invoke("sandbox", m)
    assert second != first  # the refreshed endpoint serves the new model, not a cached copy

    world.mmeops("promote", m, str(bad), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert world.manifest("sandbox")["models"][m]["version"] == v2
    assert world.invoke("sandbox", m) == second


AUTOSCALING = (
    "  autoscaling:\n    min_capacity: 1\n    max_capacity: 4\n"
    "    target_invocations_per_instance: 700\n"
)


def live_scaling(world: World) -> tuple[list[dict], list[dict]]:
    """The sandbox endpoint's scalable targets and scaling policies, as AWS has them."""
    resource = f"endpoint/{world.env('sandbox').endpoint.name}/variant/AllTraffic"
    aws = world.env_aws("sandbox")
    targets = aws.call(
        "application-autoscaling",
        "describe_scalable_targets",
        ServiceNamespace="sagemaker",
        ResourceIds=[resource],
    )["ScalableTargets"]
    policies = aws.call(
        "application-autoscaling",
        "describe_scaling_policies",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
    )["ScalingPolicies"]
    return targets, policies


def test_autoscaling_is_configured_once_and_removed_with_its_lines(world: World) -> None:
    m = f"m{world.uid}-i"
    add_model(world, m)
    path = world.root / "environments" / "sandbox.yaml"
    without = path.read_text()
    path.write_text(without.replace("  instance_count: 1\n", "  instance_count: 1\n" + AUTOSCALING))
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    (target,), (policy,) = live_scaling(world)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 700
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    with Calls() as calls:
        world.mmeops("reconcile", "sandbox", "--apply")
    assert calls.mutating() == []  # already in sync: no lease, no write

    # The lines go (a revert, say): the endpoint stops autoscaling, as the file now says.
    path.write_text(path.read_text().replace(AUTOSCALING, ""))
    assert "stop autoscaling (not in the file)" in world.mmeops("reconcile", "sandbox", "--plan")
    assert "stop autoscaling" in world.mmeops("reconcile", "sandbox", "--check", code=3)
    world.mmeops("reconcile", "sandbox", "--apply")
    assert live_scaling(world) == ([], [])
    with Calls() as calls:
        world.mmeops("reconcile", "sandbox", "--apply")
    assert calls.mutating() == []


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_a_model_still_loading_is_retried_until_the_smoke_test_passes(world, stack, monkeypatch):
    """A first invocation loads the model; past the runtime's wait the endpoint answers
    ModelNotReadyException (HTTP 429, AWS docs "Invoke a multi-model endpoint") and the
    executor waits and tries again until the model answers what registration recorded."""
    m = f"m{world.uid}-l"
    add_model(world, m)
    version = world.register(m)
    world.mmeops("promote", m, str(version), "--to", "sandbox")
    monkeypatch.setattr(stack.endpoints, "load_seconds", 1.5)
    monkeypatch.setattr(stack.endpoints, "wait_seconds", 0.3)
    before = stack.endpoints.not_ready_answers
    world.mmeops("reconcile", "sandbox", "--apply")
    assert stack.endpoints.not_ready_answers > before  # it really was not ready at first
    assert world.manifest("sandbox")["models"][m]["version"] == version


def test_an_endpoint_answering_other_numbers_fails_the_sync_and_keeps_the_routing(world):
    """The smoke test is an equality check against the registered model's own predictions: an
    artifact that loads and predicts, but other numbers, is never routed."""
    m = f"m{world.uid}-x"
    add_model(world, m)
    good, differs = world.register(m), world.register(m, answers_differ=True)
    world.mmeops("promote", m, str(good), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    assert world.manifest("sandbox")["models"][m]["feature_count"] == 3
    world.mmeops("promote", m, str(differs), "--to", "sandbox")
    out = world.mmeops("reconcile", "sandbox", "--apply", "--output", "json", code=1)
    result = json.loads(out[: out.rindex("}") + 1])
    (row,) = [r for r in result["models"] if r["model"] == m]
    assert row["status"] == "sync failed"
    assert "the registered model" in row["message"]
    assert world.manifest("sandbox")["models"][m]["version"] == good


def test_a_package_registered_before_sample_json_still_deploys(world):
    """An upgrade must not block the next deploy: a package registered by an mmeops that did
    not record predictions yet (no sample.json) is smoke-tested for one number per row."""
    m = f"m{world.uid}-o"
    add_model(world, m)
    version = world.register(m)
    sample_uri = world.package(m, version)["CustomerMetadataProperties"]["sample_uri"]
    bucket, key = split_s3_uri(sample_uri.removesuffix(".csv") + ".json")
    # As an older mmeops left it; deleting evaluations is no role's right.
    world.admin(world.repo.settings.training.account_id).call(
        "s3", "delete_object", Bucket=bucket, Key=key
    )
    world.mmeops("promote", m, str(version), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    assert world.manifest("sandbox")["models"][m]["version"] == version


def test_invoke_reads_the_one_line_csv_answer_and_refuses_a_wrong_column_count(world, tmp_path):
    m = f"m{world.uid}-i"
    add_model(world, m)
    version = world.register(m)
    world.mmeops("promote", m, str(version), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    rows = tmp_path / "rows.csv"
    rows.write_text("-2,0,0\n2,0,0\n")
    as_csv = world.mmeops("invoke", "sandbox", m, "--body", str(rows)).splitlines()[:3]
    as_json = world.mmeops("invoke", "sandbox", m, "--body", str(rows), "--accept", "json")
    assert as_csv[2].startswith("answered by")  # one prediction per row, then who answered
    assert as_json.splitlines()[:2] == as_csv[:2] and as_csv[0] != as_csv[1]

    # The endpoint would score a short row (missing values); the client refuses it, exit 2.
    rows.write_text("0.1,0.2,0.3\n0.4,0.5\n")
    out = world.mmeops("invoke", "sandbox", m, "--body", str(rows), code=2)
    assert f"{rows}:2:" in out and "has 2 columns" in out and "takes 3" in out


def test_apply_call_counts_no_op_5_one_change_13_rollback_12(world: World) -> None:
    """benchmarks/reconcile.py's targets, pinned on one model (the benchmark's 500 cost the
    same): the lease's put and delete counted, STS and the endpoint's own reads apart. The
    plan's reads reach the executor: no object is read twice in one run."""
    m = f"m{world.uid}-calls"
    add_model(world, m)
    v1, v2 = world.register(m, seed=1), world.register(m, seed=2)
    sandbox = world.root / "environments" / "sandbox.yaml"
    sandbox.write_text(sandbox.read_text().replace("approve: false", "approve: true"))
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")

    def apply() -> Calls:
        with Calls() as calls:
            world.mmeops("reconcile", "sandbox", "--apply")
        reads = Counter(p["url_path"] for op, p in calls.reconcile if op == "GetObject")
        assert all(n == 1 for n in reads.values()), reads
        return calls

    noop = apply()
    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    one = apply()
    sandbox.write_text(sandbox.read_text().replace(f"{m}: {v2}", f"{m}: {v1}"))
    back = apply()
    assert world.manifest("sandbox")["models"][m]["version"] == v1
    ops = [[op for op, _ in c.reconcile] for c in (noop, one, back)]
    assert [len(o) for o in ops] == [5, 13, 12], ops
    assert ops[0] == [
        "GetObject", "ListObjectsV2", "DescribeEndpoint", "DescribeModel", "DescribeScalableTargets"
    ]  # fmt: skip
    # Every check kept: the copy checked (its answered SHA-256), the approval, the smoke test.
    assert {"CopyObject", "UpdateModelPackage", "InvokeEndpoint"} <= set(ops[1])
    assert {"HeadObject", "InvokeEndpoint"} <= set(ops[2])  # the retained artifact verified
    assert ops[1].count("PutObject") == 2 and ops[1].count("DeleteObject") == 1  # lease, manifest
