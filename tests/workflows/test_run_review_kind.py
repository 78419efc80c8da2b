"""review-kind.yml through act: the required check on a pull request that pins versions. A
RETUNED version (a new hyperparameter search) needs an approval from the model review board
(the team in MMEOPS_REVIEW_BOARD) besides the owner's; a recalibration needs the owner's
alone. `mmeops review-kind` reads the pull request, its files and reviews and the team's
membership from GitHub's REST API (harness/fake_api.py) with an installation token of the
second, read-only App (the review App) whose client id and key are repository-level, as
docs/workflows.md (step 5) sets it up: World.default_environments does exactly that."""

from __future__ import annotations

import pytest
from harness import pull_request
from harness.engine import REPOSITORY, REVIEW_APP_CLIENT_ID, REVIEW_APP_PRIVATE_KEY


@pytest.fixture
def world(reading_world):
    """These scenarios only read AWS: they share the session's reading accounts."""
    return reading_world


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


def _check(world, event: str = "pull_request", mutate=None):
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
    return world.run("review-kind.yml", event, payload, sha=head, mutate=mutate)


@pytest.fixture(autouse=True)
def _review_board(world):
    world.repo_vars["MMEOPS_REVIEW_BOARD"] = BOARD


@pytest.mark.slow
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
    # Every call carried the review App's installation token, never GITHUB_TOKEN nor the
    # writing App's, and the token was asked for reading alone.
    (minted,) = [r for r in both.records if r["kind"] == "app-token"]
    assert minted["client_id"] == REVIEW_APP_CLIENT_ID
    assert minted["permissions"] == {"pull-requests": "read", "members": "read"}
    assert world.api.calls and {c["token"] for c in world.api.calls} >= {minted["token"]}
    assert all(c["token"].startswith("ghs_app_") for c in world.api.calls)


def test_review_kind_works_with_the_documented_app_set_up(world):
    """The set-up docs/workflows.md documents (World.default_environments): the writing App's
    key in the `github-app` environment alone, the review App's at the repository. A
    recalibration then passes with the owner's approval alone."""
    assert "MMEOPS_APP_PRIVATE_KEY" not in world.repo_secrets
    assert "MMEOPS_APP_PRIVATE_KEY" in world.environments["github-app"]["secrets"]
    _pull(world, "recalibrated", [_approval("alice")])
    run = _check(world)
    assert run.returncode == 0, run.failures()
    assert "the owner's approval is enough" in run.text


def _in_github_app(engine) -> None:
    """review-kind.yml's job moved into the `github-app` environment, reading its key there."""
    path = engine / ".github/workflows/review-kind.yml"
    text = path.read_text().replace(
        "    timeout-minutes: 10\n", "    timeout-minutes: 10\n    environment: github-app\n", 1
    )
    assert "environment: github-app" in text
    path.write_text(text)


def test_mutation_the_review_key_only_in_the_protected_environment_fails_the_check(world):
    """The set-up before the review App: the key only in `github-app` (deployment branch main),
    the job referencing that environment. GitHub evaluates an environment's protection rules
    before it sends the job to a runner and gives it the environment's secrets only then
    (GitHub docs, "Deployment environments"); a pull request's branch is not `main`, so the job
    fails without running a step, whoever approved (harness/protection.py)."""
    del world.repo_vars["MMEOPS_REVIEW_APP_CLIENT_ID"]
    del world.repo_secrets["MMEOPS_REVIEW_APP_PRIVATE_KEY"]
    world.environments["github-app"]["vars"]["MMEOPS_REVIEW_APP_CLIENT_ID"] = REVIEW_APP_CLIENT_ID
    world.environments["github-app"]["secrets"]["MMEOPS_REVIEW_APP_PRIVATE_KEY"] = (
        REVIEW_APP_PRIVATE_KEY
    )
    _pull(world, "recalibrated", [_approval("alice")])
    run = _check(world, mutate=_in_github_app)

    assert run.returncode != 0
    assert [j["status"] for j in run.jobs("review-kind")] == ["failure"]
    assert (
        'Branch "mmeops/retrain-sandbox" is not allowed to deploy to github-app due to '
        "environment protection rules." in run.text
    )
    assert not [r for r in run.records if r["kind"] == "app-token"]
    assert world.api.calls == []
