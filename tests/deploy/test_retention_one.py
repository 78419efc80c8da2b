"""Issue 19, item 5: with `retention: 1` an upgrade converges in one apply (the outgoing
version is pruned after the manifest switches), and a switch that fails keeps serving, and
keeping, the old version."""

from __future__ import annotations

from test_reconcile import World, add_model, world  # noqa: F401

from helpers import line_of


def stored(world: World, model: str) -> set[str]:  # noqa: F811
    e = world.env("sandbox")
    listing = world.env_aws("sandbox").list_objects(e.artifact_bucket, e.artifact_key_prefix)
    return {o.key.rsplit("/", 2)[-1] for o in listing if f"/{model}/" in o.key}


def test_retention_1_converges_in_one_apply_and_keeps_what_a_failed_switch_still_serves(
    world: World,  # noqa: F811 (the fixture imported above)
) -> None:
    path = world.root / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("retention: 3", "retention: 1"))
    assert line_of(path, "retention: 1")
    m = f"m{world.uid}-r1"
    add_model(world, m)
    v1, v2 = world.register(m, seed=1), world.register(m, seed=2)
    bad = world.register(m, corrupt=True)

    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("reconcile", "sandbox", "--check")  # in sync after one apply
    assert stored(world, m) == {f"v{v2}.tar.gz"}

    # A version that fails its smoke test is never routed; v2, still served, stays stored.
    world.mmeops("promote", m, str(bad), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply", code=1)
    assert world.manifest("sandbox")["models"][m]["version"] == v2
    assert f"v{v2}.tar.gz" in stored(world, m)
    assert world.invoke("sandbox", m).strip()
