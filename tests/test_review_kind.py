"""`mmeops review-kind`, the required check that retuned versions need the review board.

GitHub is a local stand-in answering the four REST calls the check makes, in the shapes
GitHub documents ("Get a pull request", "List pull requests files", "List reviews for a pull
request", "Get team membership for a user": docs.github.com/rest): a review's `state` is
APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED; a non-member is 404; a token without the
App's Members: read permission gets 403 "Resource not accessible by integration"."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from mmeops.cli import main

BOARD = {"rita", "sam"}  # members of acme/model-board
RETRAIN_BODY = (
    "Retrained by the schedule.\n\n"
    "### diabetes-progression v8\n**Kind: recalibrated**: one training job with the approved "
    "hyperparameters of prod's v7\n\n"
    "### breast-cancer v4\n**Kind: {kind}**: a new hyperparameter search\n"
)


class FakeGitHub:
    def __init__(self):
        self.body, self.author = "", "mmeops-app[bot]"
        self.files = ["environments/sandbox.yaml"]
        self.reviews: list[dict] = []
        self.members_permission = True
        self.calls: list[str] = []

    def review(self, login: str, state: str) -> None:
        self.reviews.append({"id": len(self.reviews) + 1, "user": {"login": login}, "state": state})

    def answer(self, path: str, token: str) -> tuple[int, object]:
        self.calls.append(path)
        if token != "app-token":
            return 401, {"message": "Bad credentials"}
        path = path.split("?")[0]
        if path == "/repos/acme/models/pulls/7":
            return 200, {"number": 7, "body": self.body, "user": {"login": self.author}}
        if path == "/repos/acme/models/pulls/7/files":
            return 200, [{"filename": f, "status": "modified"} for f in self.files]
        if path == "/repos/acme/models/pulls/7/reviews":
            return 200, self.reviews
        member = re.fullmatch(r"/orgs/acme/teams/model-board/memberships/(.+)", path)
        if member:
            if not self.members_permission:
                return 403, {"message": "Resource not accessible by integration"}
            if member.group(1) in BOARD:
                return 200, {"state": "active", "role": "member"}
            return 404, {"message": "Not Found"}
        return 404, {"message": "Not Found"}


@pytest.fixture()
def github():
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status, body = fake.answer(self.path, token)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()


def run(github: FakeGitHub):
    env = {
        "GITHUB_API_URL": github.url,
        "GH_TOKEN": "app-token",
        "GITHUB_REPOSITORY": "acme/models",
        "MMEOPS_REVIEW_BOARD": "acme/model-board",
    }
    return CliRunner().invoke(main, ["review-kind", "--pr", "7"], env=env)


def test_a_recalibration_needs_only_the_owners_approval(github):
    github.body = RETRAIN_BODY.replace("### breast-cancer v4\n**Kind: {kind}**", "")
    github.review("olivia", "APPROVED")
    result = run(github)
    assert result.exit_code == 0, result.output
    assert "no retuned version" in result.output
    assert not any("/memberships/" in c for c in github.calls)


def test_a_retuned_version_fails_with_the_owners_approval_alone(github):
    github.body = RETRAIN_BODY.format(kind="retuned")
    github.review("olivia", "APPROVED")
    result = run(github)
    assert result.exit_code == 1
    assert "needs an approval from acme/model-board" in result.output
    assert "Traceback" not in result.output


def test_a_retuned_version_passes_with_the_board_and_the_owner(github):
    github.body = RETRAIN_BODY.format(kind="retuned")
    github.review("olivia", "APPROVED")
    github.review("rita", "COMMENTED")
    github.review("rita", "APPROVED")
    result = run(github)
    assert result.exit_code == 0, result.output
    assert "approved by rita (acme/model-board) and olivia" in result.output


def test_the_board_alone_is_not_enough(github):
    github.body = RETRAIN_BODY.format(kind="retuned")
    github.review("rita", "APPROVED")
    result = run(github)
    assert result.exit_code == 1 and "owner's approval besides rita's" in result.output


def test_a_later_change_request_withdraws_the_approval(github):
    """GitHub counts each reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED."""
    github.body = RETRAIN_BODY.format(kind="retuned")
    github.review("olivia", "APPROVED")
    github.review("rita", "APPROVED")
    github.review("rita", "CHANGES_REQUESTED")
    github.review("rita", "COMMENTED")
    assert run(github).exit_code == 1


def test_the_author_cannot_approve_their_own_retune(github):
    github.body = RETRAIN_BODY.format(kind="retuned")
    github.author = "sam"  # a board member opened it
    github.review("sam", "APPROVED")
    github.review("olivia", "APPROVED")
    assert run(github).exit_code == 1


def test_deleting_the_kind_line_does_not_skip_the_review(github):
    """Pins in environments/ without any Kind: line count as retuned (fail safe)."""
    github.body = "Pin the new versions."
    github.review("olivia", "APPROVED")
    result = run(github)
    assert result.exit_code == 1 and "without a Kind: line" in result.output
    github.files = ["docs/monitoring.md"]
    assert run(github).exit_code == 0


def test_without_members_read_the_check_fails_closed(github):
    github.body = RETRAIN_BODY.format(kind="retuned")
    github.review("olivia", "APPROVED")
    github.review("rita", "APPROVED")
    github.members_permission = False
    result = run(github)
    assert result.exit_code == 1
    assert "GitHub answered 403" in result.output and "Traceback" not in result.output
    assert "app-token" not in result.output  # the token never reaches output


def test_without_a_team_it_is_bad_input(github):
    result = CliRunner().invoke(
        main,
        ["review-kind", "--pr", "7", "--repository", "acme/models"],
        env={"GITHUB_API_URL": github.url, "GH_TOKEN": "app-token", "MMEOPS_REVIEW_BOARD": ""},
    )
    assert result.exit_code == 2 and "MMEOPS_REVIEW_BOARD" in result.output
    assert github.calls == []
