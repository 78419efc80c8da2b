"""The workflow engine harness: act runs the repository's real workflows against the embedded
stack (engine.py), with stand-ins for third-party actions (../standins), a fake gh
(fake_gh.py), the rewrites act needs (rewrite.py) and GitHub's limits (limits.py)."""

from .engine import Run, World, pull_request, push, schedule

__all__ = ["Run", "World", "pull_request", "push", "schedule"]
