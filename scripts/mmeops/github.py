"""GitHub Actions files: step summaries and step outputs. No-ops outside a runner."""

from __future__ import annotations

import os


def append_summary(markdown: str) -> None:
    """Append markdown to the job summary when `$GITHUB_STEP_SUMMARY` is set."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown.rstrip() + "\n\n")


def set_output(name: str, value: str) -> None:
    """Write `name=value` to `$GITHUB_OUTPUT` when set (single-line values only)."""
    if "\n" in value:
        raise ValueError("step outputs written here must be one line")
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}={value}\n")
