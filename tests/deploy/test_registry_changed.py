"""Issue 19, item 10: a served version Rejected in the registry since it was deployed is a
verdict on live state (exit 3, saying so), not bad input."""

from __future__ import annotations

from test_reconcile import World, deploy_one, world  # noqa: F401

from helpers import line_of


def test_a_served_version_rejected_later_is_a_registry_change_exit_3(
    world: World,  # noqa: F811 (the fixture imported above)
) -> None:
    m, v = deploy_one(world, "rej")
    world.reject(m, v)
    line = line_of(world.root / "environments" / "sandbox.yaml", m)
    # --check reads every pinned version's package (plan and apply only those not yet live).
    out = world.mmeops("reconcile", "sandbox", "--check", code=3)
    where = f"Error: environments/sandbox.yaml:{line}: "
    assert out.startswith(f"{where}{m} v{v} was Rejected"), out
    assert "after it was deployed" in out and "registry change" in out
    assert world.manifest("sandbox")["models"][m]["version"] == v  # still served, untouched
