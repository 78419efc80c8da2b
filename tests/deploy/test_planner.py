"""The planner, table-driven against an in-memory remote: no AWS, no stack."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mmeops.aws import ObjectInfo
from mmeops.deploy import render
from mmeops.deploy.desired import Desired, DesiredModel, Scaling
from mmeops.deploy.manifest import Manifest, ManifestEntry
from mmeops.deploy.planner import (
    ENDPOINT,
    ConfigureAutoscaling,
    CopyArtifact,
    EnsureEndpoint,
    MirrorApproval,
    PruneArtifact,
    PublishStable,
    RefreshEndpoint,
    RemoveAutoscaling,
    RemoveModel,
    ReplaceEndpoint,
    SmokeTest,
    Status,
    UpdateEndpointConfig,
    VerifyArtifact,
    WriteManifest,
    drift,
    plan,
)
from mmeops.deploy.reconcile import Report
from mmeops.deploy.remote import EndpointState, Package, Remote, ScalingState
from mmeops.errors import UserError

SIZE = 100


def desired(models: dict[str, int], **kw) -> Desired:
    base = dict(
        env="qa",
        account_id="333333333333",
        region="us-east-1",
        role_arn="arn:aws:iam::333333333333:role/d",
        registry_account="111111111111",
        registry_region="us-east-1",
        endpoint_name="mme-qa",
        instance_type="ml.m5.large",
        instance_count=1,
        bucket="b-qa",
        key_prefix="mme/",
        source="environments/qa.yaml",
        git_sha="abc123",
        models=tuple(DesiredModel(n, v, line=10 + i) for i, (n, v) in enumerate(models.items())),
    )
    base.update(kw)
    return Desired(**base)


def pkg(model: str, version: int, status: str = "PendingManualApproval") -> Package:
    return Package(
        model,
        version,
        f"arn:pkg/{model}/{version}",
        status,
        f"s3://train/{model}/{version}/model.tar.gz",
        f"{model}-{version}-sha",
        SIZE,
        f"s3://train/{model}/{version}/sample.csv",
        "3.2-0",
        {"artifact_sha256": f"{model}-{version}-sha"},
    )


def entry(model: str, version: int, naming: str = "versioned") -> ManifestEntry:
    target = f"{model}.tar.gz" if naming == "stable" else f"{model}/v{version}.tar.gz"
    return ManifestEntry(
        target, version, f"arn:pkg/{model}/{version}", f"{model}-{version}-sha", SIZE
    )


def remote(
    live: dict[str, int] | None = None,
    stored: dict[str, list[int]] | None = None,
    packages: list[Package] = (),
    endpoint: EndpointState | None = "default",
    stable: tuple[str, ...] = (),
) -> Remote:
    objects = {}
    for model, versions in (stored or {}).items():
        for v in versions:
            objects[f"{model}/v{v}.tar.gz"] = ObjectInfo(f"mme/{model}/v{v}.tar.gz", SIZE, "e")
    for model in stable:
        objects[f"{model}.tar.gz"] = ObjectInfo(f"mme/{model}.tar.gz", SIZE, "e")
    naming = "stable" if stable else "versioned"
    manifest = None
    if live is not None:
        manifest = Manifest("qa", "old", "t", {m: entry(m, v, naming) for m, v in live.items()})
    if endpoint == "default":
        endpoint = EndpointState("mme-qa", "InService", "c1", "mme-qa-mme", "ml.m5.large", 1)
    return Remote(
        manifest,
        "etag1" if manifest else None,
        objects,
        endpoint,
        {(p.model, p.version): p for p in packages},
    )


def kinds(p) -> list[str]:
    return [type(a).__name__ for a in p.actions]


CASES = {
    "no-op": (
        desired({"a": 2}),
        remote({"a": 2}, {"a": [1, 2]}),
        False,
        [],
        {"a": Status.SYNCED},
    ),
    "add to an empty endpoint": (
        desired({"a": 1}),
        remote(None, {}, [pkg("a", 1)], endpoint=None),
        False,
        ["EnsureEndpoint", "CopyArtifact", "SmokeTest", "WriteManifest"],
        {"a": Status.OUT_OF_SYNC, ENDPOINT: Status.OUT_OF_SYNC},
    ),
    "upgrade copies, writes the manifest, smoke-tests": (
        desired({"a": 3}),
        remote({"a": 2}, {"a": [1, 2]}, [pkg("a", 3)]),
        False,
        ["CopyArtifact", "SmokeTest", "WriteManifest"],
        {"a": Status.OUT_OF_SYNC},
    ),
    "upgrade beyond retention prunes the oldest": (
        desired({"a": 4}),
        remote({"a": 3}, {"a": [1, 2, 3]}, [pkg("a", 4)]),
        False,
        ["CopyArtifact", "SmokeTest", "WriteManifest", "PruneArtifact"],
        {"a": Status.OUT_OF_SYNC},
    ),
    "rollback to a retained version is a manifest write": (
        desired({"a": 1}),
        remote({"a": 2}, {"a": [1, 2]}, [pkg("a", 1)]),
        False,
        ["VerifyArtifact", "SmokeTest", "WriteManifest"],
        {"a": Status.OUT_OF_SYNC},
    ),
    "approve: true mirrors the approval": (
        desired({"a": 3}, approve=True),
        remote({"a": 2}, {"a": [2]}, [pkg("a", 3)]),
        False,
        ["CopyArtifact", "MirrorApproval", "SmokeTest", "WriteManifest"],
        {"a": Status.OUT_OF_SYNC},
    ),
    "already approved is not approved again": (
        desired({"a": 3}, approve=True),
        remote({"a": 2}, {"a": [2]}, [pkg("a", 3, "Approved")]),
        False,
        ["CopyArtifact", "SmokeTest", "WriteManifest"],
        {"a": Status.OUT_OF_SYNC},
    ),
    "removed model without --prune is reported, not removed": (
        desired({"a": 1}),
        remote({"a": 1, "b": 1}, {"a": [1], "b": [1]}),
        False,
        [],
        {"a": Status.SYNCED, "b": Status.PRUNE_SKIPPED},
    ),
    "removed model with --prune leaves the manifest, then its artifacts": (
        desired({"a": 1}),
        remote({"a": 1, "b": 1}, {"a": [1], "b": [1]}),
        True,
        ["RemoveModel", "WriteManifest", "PruneArtifact"],
        {"a": Status.SYNCED, "b": Status.OUT_OF_SYNC},
    ),
    "stable naming refreshes the endpoint": (
        desired({"a": 2}, naming="stable"),
        remote({"a": 1}, {"a": [1]}, [pkg("a", 2)], stable=("a",)),
        False,
        # Tested under its versioned key, routed there while the stable key is replaced,
        # routed back once the refreshed endpoint serves it (tests/deploy/test_stable_order.py).
        [
            "CopyArtifact",
            "SmokeTest",
            "WriteManifest",
            "PublishStable",
            "RefreshEndpoint",
            "WriteManifest",
        ],  # fmt: skip
        {"a": Status.OUT_OF_SYNC, ENDPOINT: Status.OUT_OF_SYNC},
    ),
    "instance change rolls out a new endpoint config": (
        desired({"a": 1}, instance_type="ml.c5.xlarge", instance_count=2),
        remote({"a": 1}, {"a": [1]}),
        False,
        ["UpdateEndpointConfig"],
        {"a": Status.SYNCED, ENDPOINT: Status.OUT_OF_SYNC},
    ),
    "a deleted live artifact is copied again": (
        desired({"a": 2}),
        remote({"a": 2}, {"a": [1]}, [pkg("a", 2)]),
        False,
        ["CopyArtifact"],
        {"a": Status.OUT_OF_SYNC},  # the manifest is already right
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_plan(name: str) -> None:
    want_desired, want_remote, prune, actions, statuses = CASES[name]
    p = plan(want_desired, want_remote, prune=prune)
    assert kinds(p) == actions
    assert {r.model: r.status for r in p.rows} == statuses
    assert all(a.message and "\n" not in a.message for a in p.actions)


def test_rollback_touches_neither_artifacts_nor_endpoint() -> None:
    p = plan(desired({"a": 1}), remote({"a": 2}, {"a": [1, 2]}, [pkg("a", 1)]))
    assert not p.of(CopyArtifact) and not p.of(UpdateEndpointConfig)
    (write,) = p.of(WriteManifest)
    assert write.manifest.models["a"].target_model == "a/v1.tar.gz"
    assert p.rows[0].message == "rollback v2 → v1 (retained: manifest only)"


def test_retention_never_prunes_live_or_desired() -> None:
    p = plan(desired({"a": 1}, retention=1), remote({"a": 3}, {"a": [1, 2, 3]}, [pkg("a", 1)]))
    pruned = {a.key for a in p.of(PruneArtifact)}
    assert pruned == {"mme/a/v2.tar.gz"}  # v3 is the newest (retention 1), v1 is desired


def test_an_upgrade_with_retention_1_prunes_the_outgoing_version_in_the_same_apply() -> None:
    """Issue 19, item 5: the version live until this apply's manifest write is not kept
    beyond retention, so one apply converges; the executor keeps it if the switch fails."""
    p = plan(desired({"a": 2}, retention=1), remote({"a": 1}, {"a": [1]}, [pkg("a", 2)]))
    assert {a.key for a in p.of(PruneArtifact)} == {"mme/a/v1.tar.gz"}


def test_smoke_tests_only_changed_models() -> None:
    p = plan(
        desired({"a": 2, "b": 1}), remote({"a": 1, "b": 1}, {"a": [1], "b": [1]}, [pkg("a", 2)])
    )
    assert [a.model for a in p.of(SmokeTest)] == ["a"]
    assert p.of(WriteManifest)[0].changed == ("a",)


def test_ensure_endpoint_and_removal_carry_messages() -> None:
    p = plan(desired({}), remote({"b": 1}, {"b": [1]}, endpoint=None), prune=True)
    assert isinstance(p.actions[0], EnsureEndpoint)
    assert p.of(RemoveModel)[0].model == "b"
    assert "mme-qa" in p.actions[0].message


def test_a_failed_endpoint_is_replaced_before_anything_else() -> None:
    """DeleteEndpoint is the only operation SageMaker allows on a Failed endpoint
    (API_UpdateEndpoint): the plan replaces it first, with the file's config, and says why."""
    failed = EndpointState("mme-qa", "Failed", "c1", "mme-qa-mme", "ml.m5.large", 1,
                           failure_reason="the ping health check failed")  # fmt: skip
    p = plan(desired({"a": 2}), remote({"a": 2}, {"a": [1, 2]}, [pkg("a", 2)], endpoint=failed))
    assert isinstance(p.actions[0], ReplaceEndpoint) and not p.of(UpdateEndpointConfig)
    assert p.actions[0].message.startswith(
        "replace the endpoint (it is Failed: the ping health check failed): delete it"
    )


@pytest.mark.parametrize(
    ("models", "upstream", "packages", "expect"),
    [
        ({"a": 3}, {"a": 2}, [pkg("a", 3)], "newer than v2 pinned in environments/sandbox.yaml"),
        ({"a": 1}, {}, [pkg("a", 1)], "not pinned in environments/sandbox.yaml"),
        ({"a": 1}, {"a": 1}, [], "not in the registry"),
        ({"a": 1}, {"a": 1}, [pkg("a", 1, "Rejected")], "Rejected"),
    ],
)
def test_policy_refusals_name_file_and_line(models, upstream, packages, expect) -> None:
    d = desired(models, promotion_from="sandbox", upstream=upstream)
    r = remote(None, {}, packages, endpoint=None)
    if not packages:
        r = Remote(None, None, {}, None, {("a", 1): None})
    with pytest.raises(UserError) as e:
        plan(d, r)
    assert e.value.exit_code == 2
    assert str(e.value).startswith("environments/qa.yaml:10: ")
    assert expect in str(e.value)


def test_rollback_below_upstream_pin_is_allowed() -> None:
    d = desired({"a": 1}, promotion_from="sandbox", upstream={"a": 2})
    assert plan(d, remote({"a": 2}, {"a": [1, 2]}, [pkg("a", 1)])).of(VerifyArtifact)


def test_drift_says_how() -> None:
    d = desired({"a": 2, "b": 1})
    r = remote({"a": 1, "b": 1}, {"a": [1], "c": [1]}, [pkg("a", 2), pkg("b", 1)])
    r = Remote(
        r.manifest, r.manifest_etag, r.objects, r.endpoint, r.packages, {"a/v1.tar.gz": "x"}, None
    )
    found = drift(d, r, plan(d, r))
    assert "a: artifact mme/a/v2.tar.gz is missing" in found
    assert "b: artifact mme/b/v1.tar.gz is missing" in found
    assert any(f.startswith("a: manifest out of date") for f in found)
    assert any(f.startswith("c: unexpected") for f in found)


def test_no_drift_when_in_sync() -> None:
    d = desired({"a": 1})
    r = remote({"a": 1}, {"a": [1]}, [pkg("a", 1)])
    r = Remote(
        r.manifest, r.manifest_etag, r.objects, r.endpoint, r.packages, {"a/v1.tar.gz": "a-1-sha"}
    )
    assert drift(d, r, plan(d, r)) == []


def test_stable_names_route_to_the_versioned_key_while_the_stable_key_is_replaced() -> None:
    d = desired({"a": 2}, naming="stable")
    p = plan(d, remote({"a": 1}, {"a": [1]}, [pkg("a", 2)], stable=("a",)))
    interim, final = p.of(WriteManifest)
    assert interim.interim and not final.interim
    assert interim.manifest.models["a"].target_model == "a/v2.tar.gz"
    assert final.manifest.models["a"].target_model == "a.tar.gz"
    assert p.of(SmokeTest)[0].target_model == "a/v2.tar.gz"  # the bytes the stable key gets


def test_stable_refresh_is_one_config_rollout_with_instance_change() -> None:
    d = desired({"a": 2}, naming="stable", instance_count=2)
    p = plan(d, remote({"a": 1}, {"a": [1]}, [pkg("a", 2)], stable=("a",)))
    assert len(p.of(UpdateEndpointConfig)) == 1 and not p.of(RefreshEndpoint)
    assert p.of(PublishStable)[0].key == "mme/a.tar.gz"
    assert not p.of(MirrorApproval)


@pytest.mark.parametrize(
    ("wanted", "live", "expect"),
    [
        (None, None, []),
        (Scaling(1, 4, 700), ScalingState(1, 4, 700, ("mme-qa-invocations",)), []),
        (Scaling(1, 4, 700), None, ["ConfigureAutoscaling"]),
        (Scaling(1, 4, 700), ScalingState(1, 2, 700, ("mme-qa-invocations",)),
         ["ConfigureAutoscaling"]),
        (None, ScalingState(1, 4, 700, ("mme-qa-invocations", "by-hand")),
         ["RemoveAutoscaling"]),
    ],
    ids=["none", "in sync", "added", "changed", "removed from the file"],
)  # fmt: skip
def test_autoscaling_follows_the_file(wanted, live, expect) -> None:
    d = desired({"a": 1}, autoscaling=wanted)
    r = replace(remote({"a": 1}, {"a": [1]}), scaling=live)
    p = plan(d, r)
    assert kinds(p) == expect
    if expect == ["RemoveAutoscaling"]:
        (a,) = p.of(RemoveAutoscaling)
        assert a.policies == ("mme-qa-invocations", "by-hand")  # every policy, not only ours
        assert [r.message for r in p.rows if r.model == ENDPOINT] == [
            "stop autoscaling (not in the file)"
        ]
    if expect == ["ConfigureAutoscaling"]:
        assert p.of(ConfigureAutoscaling)[0].max_capacity == 4


def _pinned(n: int) -> dict[str, int]:
    return {f"m{i}": 1 for i in range(n)}


def test_the_plan_says_how_many_models_the_fleet_holds():
    # ml.m5.large: 8 GiB less the OS reserve and multi-model-server's heap, 215 MiB per loaded
    # model's worker (mmeops/capacity.py) -> 34 per instance.
    models = _pinned(3)
    p = plan(desired(models, instance_count=2), remote(models, {m: [1] for m in models}, []))
    assert "2 x ml.m5.large hold 68 XGBoost models" in p.capacity
    assert "34 per instance" in p.capacity and "3 pinned" in p.capacity
    assert not p.over_capacity


def test_more_pinned_models_than_fit_is_a_warning_with_the_numbers():
    models = _pinned(40)
    p = plan(
        desired(models, instance_type="ml.t2.medium"),
        remote({}, {}, [pkg(m, 1) for m in models]),
    )
    assert p.over_capacity
    assert "1 x ml.t2.medium hold 15 XGBoost models" in p.capacity and "40 pinned" in p.capacity
    assert "ModelNotReadyException" in p.capacity


def test_the_pull_request_comment_and_json_carry_the_capacity_line():
    models = _pinned(40)
    p = plan(
        desired(models, instance_type="ml.t2.medium"),
        remote({}, {}, [pkg(m, 1) for m in models]),
    )
    report = Report("qa", "plan", "abc123", (), (), p)
    assert "⚠️ capacity: 1 x ml.t2.medium hold 15 XGBoost models" in render.markdown(report)
    assert json.loads(render.as_json(report))["capacity"] == p.capacity
