"""Issue 17: `mmeops promote` asks the registry when it can reach it, so a version that does
not exist, or was Rejected, is refused before the pull request rather than by the plan."""

from __future__ import annotations

from test_reconcile import World, add_model, isolate

from mmeops import aws


def test_promote_refuses_what_the_registry_lacks_or_rejected(stack, repo_copy):
    world = World(repo_copy, isolate(repo_copy, "p"))
    m = f"m{world.uid}-p"
    add_model(world, m)
    v = world.register(m)
    sandbox = repo_copy / "environments" / "sandbox.yaml"
    before = sandbox.read_text()

    out = world.mmeops("promote", m, str(v + 1), "--to", "sandbox", code=2)
    assert f"{m} v{v + 1} is not in the registry (account 111111111111)" in out
    assert sandbox.read_text() == before

    world.reject(m, v)
    out = world.mmeops("promote", m, str(v), "--to", "sandbox", code=2)
    assert f"{m} v{v} is Rejected in the registry" in out
    assert sandbox.read_text() == before

    v2 = world.register(m, seed=2)
    out = world.mmeops("promote", m, str(v2), "--to", "sandbox")
    assert f"registry: {m} v{v2} exists (PendingManualApproval)" in out
    assert f"{m}: {v2}" in sandbox.read_text()


def test_promote_without_registry_access_says_so_and_edits_the_file(stack, repo_copy, monkeypatch):
    world = World(repo_copy, isolate(repo_copy, "p"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    aws.reset_sessions()
    try:
        out = world.mmeops("promote", "diabetes-progression", "7", "--to", "sandbox")
    finally:
        aws.reset_sessions()
    assert "registry not checked (" in out and "NoCredentialsError" in out
    assert "`mmeops reconcile sandbox --plan` will check it" in out
    assert "diabetes-progression: 7" in (repo_copy / "environments" / "sandbox.yaml").read_text()
