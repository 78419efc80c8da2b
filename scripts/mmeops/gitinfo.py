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


def changed_paths(root: str | Path, since: str, until: str = "HEAD") -> list[str] | None:
    """The paths that differ between commits `since` and `until`; None when git cannot tell
    (a commit this clone does not have: a rewritten history, a shallow clone)."""
    try:
        out = subprocess.run(
            ["git", "diff", "--name-only", "--relative", since, until, "--"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.splitlines() if out.returncode == 0 else None
