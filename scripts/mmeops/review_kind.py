"""The `review-kind` required check: a retuned version needs the review board's approval.

The design document's loop: a scheduled retrain RECALIBRATES (the approved hyperparameters,
no search) and needs its owner's approval alone, which CODEOWNERS already requires; a
RETUNE (a new hyperparameter search, started by a quality violation or a person) also needs
an approval from the model review board. CODEOWNERS cannot tell the two apart (both change the
same line of environments/ENV.yaml), so this check reads the pull request's `Kind:` lines
(the retrain pull request carries one per model: `**Kind: recalibrated**` or
`**Kind: retuned**`, tune/recalibrate.py) and its reviews:

- no retuned version: pass (the owner's approval is CODEOWNERS' business);
- a retuned version, or a pull request that changes environments/*.yaml pins without any
  `Kind:` line (fail safe: deleting the line does not skip the review): pass only when an
  approval from a member of the review-board team is in, and another approval besides it
  (the owner's), from two different people, neither the pull request's author.

A review counts as GitHub counts it: each reviewer's latest APPROVED, CHANGES_REQUESTED or
DISMISSED review (COMMENTED does not change it). Team membership is
`GET /orgs/{org}/teams/{team_slug}/memberships/{username}` (200 with `state: active`; 404
otherwise), which an installation token reads only with the App's **Members: read**
organization permission; without it GitHub answers 403/404 and the check fails closed.

REST API: "List reviews for a pull request", "Get a pull request", "List pull requests
files", "Get team membership for a user" (docs.github.com/rest).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from mmeops.errors import MmeopsError, UserError

KIND = re.compile(r"\bKind:\s*\**\s*(recalibrated|retuned)\b", re.IGNORECASE)
ENV_FILE = re.compile(r"^environments/[^/]+\.ya?ml$")
COUNTED = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


class CheckFailed(MmeopsError):
    """The pull request lacks the review a retuned version needs (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    retuned: bool


def kinds(body: str) -> list[str]:
    """The `Kind:` of every line that has one, lower case."""
    return [m.group(1).lower() for line in body.splitlines() if (m := KIND.search(line))]


def approvers(reviews: list[dict], author: str) -> list[str]:
    """Logins whose latest counted review is APPROVED, the author excluded, in order."""
    latest: dict[str, str] = {}
    for review in reviews:  # the API lists them oldest first
        login = (review.get("user") or {}).get("login")
        if login and review.get("state") in COUNTED:
            latest[login] = review["state"]
    return [login for login, state in latest.items() if state == "APPROVED" and login != author]


def decide(
    body: str, files: list[str], reviews: list[dict], author: str, is_member, team: str
) -> Verdict:
    """The check's verdict; `is_member(login)` asks GitHub about the review-board team."""
    found = kinds(body)
    pins = any(ENV_FILE.match(f) for f in files)
    retuned = "retuned" in found or (pins and not found)
    if not retuned:
        return Verdict(True, "no retuned version: the owner's approval is enough", False)
    approved = approvers(reviews, author)
    board = [login for login in approved if is_member(login)]
    why = "a retuned version" if "retuned" in found else "environment pins without a Kind: line"
    if not board:
        return Verdict(False, f"{why} needs an approval from {team}; none yet", True)
    others = [login for login in approved if login != board[0]]
    if not others:
        return Verdict(
            False, f"{why} needs the owner's approval besides {board[0]}'s ({team})", True
        )
    return Verdict(True, f"{why}: approved by {board[0]} ({team}) and {others[0]}", True)


class GitHub:
    """The few REST calls the check makes, with the token it is given."""

    def __init__(self, api: str, token: str):
        if not api.startswith(("https://", "http://")):
            raise UserError(f"GITHUB_API_URL {api!r} is not an http(s) URL")
        self.api, self.token = api.rstrip("/"), token

    def get(self, path: str, allow_404: bool = False):
        request = urllib.request.Request(  # noqa: S310 (an http(s) API URL, checked above)
            self.api + path,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as error:
            if allow_404 and error.code == 404:
                return None
            raise MmeopsError(f"GitHub answered {error.code} to GET {path}") from None

    def pages(self, path: str) -> list:
        found, page = [], 1
        while True:
            batch = self.get(f"{path}?per_page=100&page={page}")
            found += batch
            if len(batch) < 100:
                return found
            page += 1


def check(api: str, token: str, repository: str, number: int, team: str) -> Verdict:
    """Read pull request `number` of `repository` (owner/name) and decide."""
    if "/" not in team:
        raise UserError(f"--team {team!r}: give the team as ORG/TEAM-SLUG")
    org, slug = team.split("/", 1)
    gh = GitHub(api, token)
    pull = gh.get(f"/repos/{repository}/pulls/{number}")
    files = [f["filename"] for f in gh.pages(f"/repos/{repository}/pulls/{number}/files")]
    reviews = gh.pages(f"/repos/{repository}/pulls/{number}/reviews")

    def is_member(login: str) -> bool:
        path = f"/orgs/{org}/teams/{slug}/memberships/{urllib.parse.quote(login)}"
        membership = gh.get(path, allow_404=True)
        return bool(membership and membership.get("state") == "active")

    author = (pull.get("user") or {}).get("login", "")
    return decide(pull.get("body") or "", files, reviews, author, is_member, team)
