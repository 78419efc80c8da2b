"""Issue 27: with `naming: stable`, the manifest and the bytes it routes to agree at every
moment of an apply. The stable key is overwritten in place, so the apply first routes the
model to its versioned key (already copied and verified), then replaces the stable key,
refreshes the endpoint and only then routes to the stable key again.

The check runs right before each mutating AWS call of a v1 -> v2 switch, which is exactly the
state a SIGKILL before that call leaves (tests/crashing.py kills there): the manifest's
`target_model` must hold the bytes of the manifest's `sha256`. With the old order (stable key
overwritten, then the manifest written) the check before the manifest write finds v2's bytes
under an entry that says v1.
"""

from __future__ import annotations

import hashlib
import json

from test_reconcile import World, add_model, world  # noqa: F401

from mmeops import aws


def disagreements(w: World) -> list[str]:
    """Entries of the live manifest whose target key does not hold the bytes they record,
    read as the stack's admin (the test's eyes, not the product's role)."""
    e = w.env("sandbox")
    admin = w.admin(e.account_id)
    manifest_key = e.artifact_key_prefix + "_mmeops/manifest.json"
    try:
        body, _ = admin.get_bytes(e.artifact_bucket, manifest_key)
    except aws.NotFound:
        return []
    out = []
    for name, entry in json.loads(body)["models"].items():
        data, _ = admin.get_bytes(e.artifact_bucket, e.artifact_key_prefix + entry["target_model"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            out.append(f"{name}: {entry['target_model']} is not v{entry['version']}")
    return out


def test_a_stable_switch_never_routes_to_bytes_the_manifest_does_not_record(
    world: World,  # noqa: F811 (the fixture imported above)
) -> None:
    m = f"m{world.uid}-so"
    add_model(world, m)
    v1, v2 = world.register(m, seed=1), world.register(m, seed=2)
    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("naming: versioned", "naming: stable"))
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    first = world.invoke("sandbox", m)

    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    seen: list[tuple[str, list[str]]] = []

    def before_each_write(service: str, op: str, params: dict) -> None:
        if aws.is_mutating(op):
            seen.append((op, disagreements(world)))

    remove = aws.add_call_listener(before_each_write)
    try:
        world.mmeops("reconcile", "sandbox", "--apply")
    finally:
        remove()
    ops = [op for op, _ in seen]
    assert "CopyObject" in ops and "UpdateEndpoint" in ops, ops  # the switch happened
    assert [(op, bad) for op, bad in seen if bad] == [], ops
    assert disagreements(world) == []
    entry = world.manifest("sandbox")["models"][m]
    assert (entry["target_model"], entry["version"]) == (f"{m}.tar.gz", v2)
    assert world.invoke("sandbox", m) != first  # the refreshed endpoint serves v2
    world.mmeops("reconcile", "sandbox", "--check")
