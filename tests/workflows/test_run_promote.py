"""promote.yml through act: a workflow_dispatch pins a version in environments/ENV.yaml on a
branch (a commit made through the contents API, in origin) and opens one pull request with a
GitHub App installation token minted in the job, which runs in the GitHub environment
`github-app` (the App's key is that environment's secret, issue 24 item 7)."""

from __future__ import annotations

import pytest


@pytest.fixture
def world(reading_world):
    """These scenarios only read AWS: they share the session's reading accounts."""
    return reading_world


def test_promote_opens_one_pull_request_pinning_the_version_with_the_app_token(world):
    inputs = {"model": "breast-cancer", "version": "3", "to": "sandbox"}

    run = world.run("promote.yml", "workflow_dispatch", {}, inputs=inputs)

    assert run.returncode == 0, run.failures()
    assert [job["environment"] for job in run.jobs()] == ["github-app"]
    (pr,) = world.state()["pulls"]
    assert pr["title"] == "Promote breast-cancer v3 to sandbox"
    assert pr["head"] == "mmeops/promote-sandbox-breast-cancer-v3" and pr["base"] == "main"
    assert world.changed("main", pr["head"]) == ["environments/sandbox.yaml"]
    assert "breast-cancer: 3" in world.read("environments/sandbox.yaml", ref=pr["head"])
    # Every GitHub write of the job used the App's token, never GITHUB_TOKEN.
    writes = [c for c in world.gh_calls() if c["argv"][:2] in (["pr", "create"], ["api", "-X"])]
    assert writes and all(c["token"].startswith("ghs_app_") for c in writes)
