"""Issue 19, item 6: every object mmeops reads back from S3 goes through a tolerant reader.
Unknown fields are ignored; a malformed manifest is drift that `--check` names and `--apply`
(which holds the lease) rewrites; a malformed lease or lineage is exit 1 naming the key; one
bad history line (not even UTF-8) leaves the others readable."""

from __future__ import annotations

import json

import pytest
from test_reconcile import World, add_model, deploy_one, world  # noqa: F401

from mmeops import jsonl
from mmeops.tune import history

# The slow tier (make test-slow; CI runs it):
# fault scenarios: each corrupts a live state, then one apply repairs it.
pytestmark = pytest.mark.slow

BROKEN_MANIFESTS = {
    "not-json": b'{"environment": "sandbox", "models": {',
    "not-utf8": b"\xff\xfe{}",
    "a-list": b"[]",
    "no-environment": b'{"models": {}}',
    "entry-of-wrong-type": b'{"environment": "sandbox", "models": {"m": {"version": "x"}}}',
}


def test_a_broken_manifest_is_reported_by_check_and_rewritten_by_apply(
    world: World,  # noqa: F811 (the fixture imported above)
) -> None:
    m, _ = deploy_one(world, "cm")
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    aws = world.env_aws("sandbox")
    request = world.root.parent / "request.csv"
    request.write_text("0.1,0.2,0.3\n")

    # A newer mmeops's fields are ignored, at both levels.
    newer = world.manifest("sandbox")
    newer["schema"] = 9
    newer["models"][m]["canary"] = {"weight": 5}
    aws.put_bytes(e.artifact_bucket, key, json.dumps(newer).encode())
    world.mmeops("reconcile", "sandbox", "--check")

    for case, body in BROKEN_MANIFESTS.items():
        aws.put_bytes(e.artifact_bucket, key, body)
        out = world.mmeops("reconcile", "sandbox", "--check", code=3)
        assert f"s3://{e.artifact_bucket}/{key} is not a routing manifest" in out, case
        out = world.mmeops("invoke", "sandbox", m, "--body", str(request), code=1)
        assert f"s3://{e.artifact_bucket}/{key}" in out and len(out.splitlines()) == 1, case
        world.mmeops("reconcile", "sandbox", "--apply")
        world.mmeops("reconcile", "sandbox", "--check")
        assert world.manifest("sandbox")["models"][m]["target_model"], case


@pytest.mark.parametrize(
    "body", [b"{", b"\xff", b'{"owner": "x"}', b'{"acquired": 1, "expires": 2}', b"null"]
)
def test_a_broken_lease_stops_apply_with_exit_1_naming_it(world: World, body: bytes) -> None:  # noqa: F811
    m = f"m{world.uid}-cl"
    add_model(world, m)
    world.mmeops("promote", m, str(world.register(m)), "--to", "sandbox")
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/lease.json"
    world.env_aws("sandbox").put_bytes(e.artifact_bucket, key, body)
    out = world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert out.startswith(f"Error: the lease s3://{e.artifact_bucket}/{key} does not parse"), out
    assert len(out.splitlines()) == 1
    world.env_aws("sandbox").call("s3", "delete_object", Bucket=e.artifact_bucket, Key=key)
    world.mmeops("reconcile", "sandbox", "--apply")


def test_one_bad_history_line_leaves_the_others_readable(world: World) -> None:  # noqa: F811
    bucket = world.repo.settings.bucket
    model = f"m{world.uid}-hist"
    key = history.history_key(model)
    good = {"time": "t", "job_name": "j1", "model": model, "future_field": [1]}
    jsonl.append(world.training, bucket, key, json.dumps(good))
    body, _ = world.training.get_bytes(bucket, key)
    world.training.put_bytes(bucket, key, body + b"\xff\xfe garbage\n[1, 2]\n{\n")
    jsonl.append(world.training, bucket, key, json.dumps({**good, "job_name": "j2"}))
    rows = jsonl.read(world.training, bucket, key)
    assert [r["job_name"] for r in rows] == ["j1", "j2"]
    # TuningRecord needs its own fields: these rows lack them and are skipped, not fatal.
    assert history.read(world.training, bucket, model) == []


def test_a_broken_lineage_is_exit_1_naming_it(world: World) -> None:  # noqa: F811
    bucket = world.repo.settings.bucket
    run_id = "20250101T000000000Z-abcdef"
    key = f"datasets/diabetes-progression/{run_id}/lineage.json"
    world.training.put_bytes(bucket, key, b"\xff not json")
    out = world.mmeops("tune", "diabetes-progression", "--dataset", run_id, code=1)
    assert out.startswith(f"Error: s3://{bucket}/{key} is not dataset lineage"), out
