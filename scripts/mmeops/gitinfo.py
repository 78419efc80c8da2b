"""The commit a run comes from: GITHUB_SHA on a runner, else `git rev-parse HEAD`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def current_commit(root: str | Path = ".") -> str:
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


# What reconcile deploys: the config files, which the manifest says came from one commit.
CONFIG_PATHS = ("mmeops.yaml", "models", "environments")


def _git(root: str | Path, *args: str) -> str | None:
    """git's output, or None outside a work tree (or without git)."""
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.rstrip("\n") if out.returncode == 0 else None


def deploy_check(root: str | Path, allow_dirty: bool) -> str:
    """Whether the files about to be deployed are the commit the manifest will record. Returns
    a warning ("" when none); raises UserError when they are not (issue 27): on a runner the
    work tree must be at GITHUB_SHA; elsewhere the config files must be committed unless
    `allow_dirty`. Outside git the commit is unknown: a warning, not a refusal."""
    from mmeops.errors import UserError

    runner_sha = os.environ.get("GITHUB_SHA")
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return "" if runner_sha else "not in a git work tree: the manifest records git_sha unknown"
    if runner_sha and head != runner_sha:
        raise UserError(
            f"the work tree is at {head[:12]} but GITHUB_SHA is {runner_sha[:12]}: the files "
            "would not be the commit the manifest records; check out GITHUB_SHA"
        )
    dirty = _git(root, "status", "--porcelain", "--", *CONFIG_PATHS)
    if dirty and not allow_dirty:
        first = dirty.splitlines()[0][3:]
        raise UserError(
            f"{first} (and {len(dirty.splitlines()) - 1} more) differ from commit {head[:12]}, "
            "which the manifest would record; commit them, or pass --allow-dirty"
        )
    return ""


def changed_paths(root: str | Path, since: str, until: str = "HEAD") -> list[str] | None:
    """The paths that differ between commits `since` and `until`; None when git cannot tell
    (a commit this clone does not have: a rewritten history, a shallow clone)."""
    out = _git(root, "diff", "--name-only", "--relative", since, until, "--")
    return None if out is None else [p for p in out.splitlines() if p]
