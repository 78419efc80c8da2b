"""Issue 27, states apply did not repair: `--check` reported them and `--apply` said "synced".

- A manifest entry whose recorded sha256 is wrong (edited outside mmeops): each entry carries a
  digest of its routing fields, so plan sees the edit with no extra call and repairs the entry.
- A versioned artifact replaced by other bytes of the same size: the manifest records the ETag
  the artifact had when it was routed; the listing's ETag (one call per 1,000 keys, already
  made) differs, so apply verifies it and refuses with what to do, instead of "synced".
"""

from __future__ import annotations

import hashlib
import json

import pytest
from test_reconcile import World, deploy_one, world  # noqa: F401

from mmeops.aws import split_s3_uri

# The slow tier (make test-slow; CI runs it): repairs from every endpoint state.
pytestmark = pytest.mark.slow


def test_a_wrong_sha256_in_the_manifest_is_repaired_by_one_apply(world: World) -> None:  # noqa: F811
    m, v = deploy_one(world, "sha")
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    edited = world.manifest("sandbox")
    right = edited["models"][m]["sha256"]
    edited["models"][m]["sha256"] = "0" * 64
    world.env_aws("sandbox").put_bytes(e.artifact_bucket, key, json.dumps(edited).encode())

    world.mmeops("reconcile", "sandbox", "--check", code=3)
    out = world.mmeops("reconcile", "sandbox", "--apply")
    assert f"repair v{v}" in out, out
    assert world.manifest("sandbox")["models"][m]["sha256"] == right
    world.mmeops("reconcile", "sandbox", "--check")
    assert world.invoke("sandbox", m).strip()


def test_a_versioned_artifact_replaced_by_same_size_bytes_is_not_called_synced(
    world: World,  # noqa: F811
) -> None:
    m, v = deploy_one(world, "etag")
    e = world.env("sandbox")
    env_aws = world.env_aws("sandbox")
    key = f"{e.artifact_key_prefix}{m}/v{v}.tar.gz"
    body, _ = env_aws.get_bytes(e.artifact_bucket, key)
    other = bytes(reversed(body))  # same size, other bytes
    assert len(other) == len(body) and other != body
    env_aws.put_bytes(e.artifact_bucket, key, other)

    world.mmeops("reconcile", "sandbox", "--check", code=3)
    out = world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert "changed outside mmeops: delete it and apply again" in out, out
    assert "synced" not in out.splitlines()[-1]
    # Following the advice converges: the artifact is copied again from the registry.
    env_aws.call("s3", "delete_object", Bucket=e.artifact_bucket, Key=key)
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("reconcile", "sandbox", "--check")
    restored, _ = env_aws.get_bytes(e.artifact_bucket, key)
    uri = world.package(m, v)["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert restored == world.training.get_bytes(*split_s3_uri(uri))[0]
    assert hashlib.sha256(restored).hexdigest() == world.manifest("sandbox")["models"][m]["sha256"]
