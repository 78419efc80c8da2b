"""`mmeops review-kind`: the required check that retuned versions need the review board."""

from __future__ import annotations

import os

import click

from mmeops import github
from mmeops.cli import main


@main.command("review-kind")
@click.option("--pr", "number", type=int, required=True, help="Pull request number.")
@click.option(
    "--repository",
    envvar="GITHUB_REPOSITORY",
    help="OWNER/NAME (default: $GITHUB_REPOSITORY).",
)
@click.option(
    "--team",
    envvar="MMEOPS_REVIEW_BOARD",
    help="The review board as ORG/TEAM-SLUG (default: $MMEOPS_REVIEW_BOARD).",
)
def review_kind_cmd(number: int, repository: str | None, team: str | None) -> None:
    """Pass when pull request PR's retuned versions have the review board's approval.

    Reads the pull request's `Kind:` lines, its changed files and its reviews, and the
    review-board team's membership, with the token in $GH_TOKEN (a GitHub App installation
    token with Pull requests: read and Members: read). Exits 1 when a retuned version (or
    an environment pin without a Kind: line) lacks an approval from the team plus one more.

    Example:

        GH_TOKEN=... mmeops review-kind --pr 42 --repository org/models --team org/model-board
    """
    from mmeops.errors import MmeopsError, UserError
    from mmeops.review_kind import CheckFailed, check

    if not repository:
        raise UserError("review-kind: give --repository OWNER/NAME (or set GITHUB_REPOSITORY)")
    if not team:
        raise UserError(
            "review-kind: give --team ORG/TEAM-SLUG (or set the repository variable "
            "MMEOPS_REVIEW_BOARD)"
        )
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if not token:
        raise MmeopsError("review-kind needs a token in GH_TOKEN (Members: read)")
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
    verdict = check(api, token, repository, number, team)
    mark = "✅" if verdict.passed else "❌"
    github.append_summary(f"### {mark} review-kind\n\n{verdict.reason}")
    click.echo(f"review-kind: {'pass' if verdict.passed else 'fail'}: {verdict.reason}")
    if not verdict.passed:
        raise CheckFailed(verdict.reason)
