"""Issue 19, item 3: a stable key whose bytes differ from the manifest's version (a crash
mid-apply, then a revert) is found by checksum, not size, and one apply rewrites it with the
manifest's version and refreshes the endpoint."""

from __future__ import annotations

import hashlib

from test_reconcile import Calls, World, add_model, world  # noqa: F401


def test_a_stable_key_with_another_versions_bytes_is_rewritten_and_refreshed(
    world: World,  # noqa: F811 (the fixture imported above)
) -> None:
    m = f"m{world.uid}-sb"
    add_model(world, m)
    v1 = world.register(m, seed=1)
    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("naming: versioned", "naming: stable"))
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    first = world.invoke("sandbox", m)

    # Other bytes of the same size land on the stable key while the manifest still names v1,
    # as a crash mid-apply can leave them: the same gzip with another MTIME header field
    # (RFC 1952, bytes 4-7), so only a checksum, never the size, tells them apart.
    e = world.env("sandbox")
    stable = f"{e.artifact_key_prefix}{m}.tar.gz"
    sandbox = world.env_aws("sandbox")
    live, _ = sandbox.get_bytes(e.artifact_bucket, stable)
    mtime = (int.from_bytes(live[4:8], "little") + 1) % 2**32
    other = live[:4] + mtime.to_bytes(4, "little") + live[8:]
    assert len(other) == len(live) and other != live
    sandbox.call(
        "s3",
        "put_object",
        Bucket=e.artifact_bucket,
        Key=stable,
        Body=other,
        ChecksumAlgorithm="SHA256",
    )

    out = world.mmeops("reconcile", "sandbox", "--check", code=3)
    assert f"{stable} has sha256" in out
    with Calls() as calls:
        world.mmeops("reconcile", "sandbox", "--apply")
    assert calls.ops("UpdateEndpoint") == 1  # refreshed: no cached copy of v2's bytes
    world.mmeops("reconcile", "sandbox", "--check")
    repaired, _ = sandbox.get_bytes(e.artifact_bucket, stable)
    assert hashlib.sha256(repaired).hexdigest() == world.manifest("sandbox")["models"][m]["sha256"]
    assert world.invoke("sandbox", m) == first
