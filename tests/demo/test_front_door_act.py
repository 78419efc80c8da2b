"""The demo's front-door act (demo/front_door.py) on the session's stack, without the rest of
the demo: prod at v1, qa at v2, two models; a 10% canary and a shadow through the front door,
the canary report, the promotion and its revert, every claim checked by the act itself."""

from __future__ import annotations

import subprocess

import pytest

from deploy.test_reconcile import World, add_model, isolate
from mmeops.cli.demo_cmds import start_front_door
from mmeops.demo import front_door as act

# The slow tier (make test-slow; CI runs it):
# the demo's front-door act end to end (canary, shadow, promotion, revert).
pytestmark = pytest.mark.slow

ROWS = b"0.1,0.2,0.3\n-1,0.5,2\n1.5,-0.3,0.7\n"


def git(root, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def test_the_front_door_act_runs_and_checks_itself(stack, repo_copy):
    world = World(repo_copy, isolate(repo_copy, "da"))
    canary, shadow = f"m{world.uid}-c", f"m{world.uid}-s"
    for m in (canary, shadow):
        add_model(world, m)
        world.register(m, seed=1)
        world.register(m, seed=2)
        for env, v in (("sandbox", 2), ("qa", 2), ("prod", 1)):
            world.mmeops("promote", m, str(v), "--to", env)
    world.mmeops("reconcile", "prod", "--apply")
    git(repo_copy, "init", "-q", "-b", "main")
    git(repo_copy, "add", "-A")
    git(repo_copy, "commit", "-q", "-m", "start")
    said: list[str] = []
    servers: list = []

    def check(ok: bool, message: str) -> None:
        assert ok, message

    try:
        act.run(
            repo_copy,
            {canary: ROWS, shadow: ROWS},
            lambda root, env: start_front_door(root, env, servers),
            lambda message: git(repo_copy, "commit", "-q", "-am", message),
            lambda env: world.mmeops("reconcile", env, "--apply"),
            lambda: git(repo_copy, "revert", "--no-edit", "HEAD"),
            said.append,
            check,
            models=(canary, shadow),
        )
    finally:
        for s in servers:
            s.stop()
    text = "\n".join(said)
    assert f"mmeops canary prod {canary}: canary v2:" in text
    assert "reverted: v1 is the champion again" in text
    assert world.manifest("prod")["models"][canary]["variants"]["canary"]["version"] == 2
