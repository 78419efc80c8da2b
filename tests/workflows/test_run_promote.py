"""promote.yml through act: a workflow_dispatch pins a version in environments/ENV.yaml on a
branch (a commit made through the contents API, in origin) and opens one pull request with a
GitHub App installation token minted in the job."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

KEY = "-----BEGIN RSA PRIVATE KEY-----MIIharnessfake-----END RSA PRIVATE KEY-----"


def test_promote_opens_one_pull_request_pinning_the_version_with_the_app_token(world):
    world.repo_vars["MMEOPS_APP_CLIENT_ID"] = "Iv1.harness"
    world.repo_secrets["MMEOPS_APP_PRIVATE_KEY"] = KEY
    inputs = {"model": "breast-cancer", "version": "3", "to": "sandbox"}

    run = world.run("promote.yml", "workflow_dispatch", {}, inputs=inputs)

    assert run.returncode == 0, run.failures()
    (pr,) = world.state()["pulls"]
    assert pr["title"] == "Promote breast-cancer v3 to sandbox"
    assert pr["head"] == "mmeops/promote-sandbox-breast-cancer-v3" and pr["base"] == "main"
    assert world.changed("main", pr["head"]) == ["environments/sandbox.yaml"]
    assert "breast-cancer: 3" in world.read("environments/sandbox.yaml", ref=pr["head"])
    # Every GitHub write of the job used the App's token, never GITHUB_TOKEN.
    writes = [c for c in world.gh_calls() if c["argv"][:2] in (["pr", "create"], ["api", "-X"])]
    assert writes and all(c["token"].startswith("ghs_app_") for c in writes)
