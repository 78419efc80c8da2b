"""review-kind.yml through act: the required check on a pull request that pins versions. A
RETUNED version (a new hyperparameter search) needs an approval from the model review board
(the team in MMEOPS_REVIEW_BOARD) besides the owner's; a recalibration needs the owner's
alone. `mmeops review-kind` reads the pull request, its files and reviews and the team's
membership from GitHub's REST API (harness/fake_api.py) with the App's installation token."""

from __future__ import annotations

import pytest
from harness import pull_request
from harness.engine import APP_CLIENT_ID, APP_PRIVATE_KEY, REPOSITORY

pytestmark = pytest.mark.slow

BOARD = "acme/model-review-board"
NUMBER = 12


def _pull(world, kind: str, reviews: list[dict]) -> None:
    """Pull request 12, the rolling retrain pull request's shape: one pin, its Kind line."""
    body = f"Retrained models for sandbox\n\n- breast-cancer v4: Kind: {kind}\n"

    def add(data: dict) -> None:
        data["pulls"].append(
            {
                "number": NUMBER,
                "url": f"https://github.com/{REPOSITORY}/pull/{NUMBER}",
                "head": "mmeops/retrain-sandbox",
                "base": "main",
                "title": "Retrained models for sandbox",
                "body": body,
                "state": "open",
                "author": "mmeops-app[bot]",
                "files": ["environments/sandbox.yaml"],
                "reviews": reviews,
            }
        )
        data["teams"] = {BOARD: ["bob"]}

    world._update_state(add)


def _approval(login: str) -> dict:
    return {"user": {"login": login}, "state": "APPROVED"}


def _check(world, event: str = "pull_request"):
    """Run review-kind.yml for pull request 12 (its branch made on the first call)."""
    base = world.sha("main")
    branch = "mmeops/retrain-sandbox"
    if branch not in world.state()["branches"]:
        text = world.read("environments/sandbox.yaml") + "# pinned\n"
        world.commit({"environments/sandbox.yaml": text}, "pin", branch=branch)
    head = world.sha(branch)
    payload = pull_request(NUMBER, base, head, branch)
    if event == "pull_request_review":
        payload = {**payload, "action": "submitted", "review": {"state": "approved"}}
    return world.run("review-kind.yml", event, payload, sha=head)


@pytest.fixture(autouse=True)
def _app_for_review_kind(world):
    """review-kind.yml's job runs in no GitHub environment: it reads the App's client id and key
    from the repository (see the xfail below)."""
    world.repo_vars["MMEOPS_APP_CLIENT_ID"] = APP_CLIENT_ID
    world.repo_secrets["MMEOPS_APP_PRIVATE_KEY"] = APP_PRIVATE_KEY
    world.repo_vars["MMEOPS_REVIEW_BOARD"] = BOARD


def test_a_retuned_version_needs_the_review_board_besides_the_owner(world):
    _pull(world, "retuned", [_approval("alice")])
    owner_only = _check(world)
    assert owner_only.returncode != 0
    assert [j["status"] for j in owner_only.jobs("review-kind")] == ["failure"]
    assert f"needs an approval from {BOARD}" in owner_only.text

    # bob (on the board) approves too: the check, run again on the review, passes.
    world._update_state(lambda d: d["pulls"][-1]["reviews"].append(_approval("bob")))
    both = _check(world, "pull_request_review")
    assert both.returncode == 0, both.failures()
    # Every call carried the App's installation token, never GITHUB_TOKEN.
    assert world.api.calls and all(c["token"].startswith("ghs_app_") for c in world.api.calls)


def test_a_recalibration_needs_the_owner_alone(world):
    _pull(world, "recalibrated", [_approval("alice")])
    run = _check(world)
    assert run.returncode == 0, run.failures()
    assert "the owner's approval is enough" in run.text


@pytest.mark.xfail(
    strict=True,
    reason="review-kind.yml reads MMEOPS_APP_PRIVATE_KEY as a repository secret, but issue 24 "
    "item 7 moved the key to the github-app environment, which a pull_request job cannot use "
    "(deployment branch main): with the documented set-up the check cannot mint its token",
)
def test_review_kind_works_with_the_documented_app_set_up(world):
    del world.repo_secrets["MMEOPS_APP_PRIVATE_KEY"]
    del world.repo_vars["MMEOPS_APP_CLIENT_ID"]
    _pull(world, "recalibrated", [_approval("alice")])
    run = _check(world)
    assert run.returncode == 0, run.failures()
