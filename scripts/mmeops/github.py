"""GitHub Actions files: step summaries and step outputs. No-ops outside a runner."""

from __future__ import annotations

import os

from mmeops.errors import MmeopsError


def append_summary(markdown: str) -> None:
    """Append markdown to the job summary when `$GITHUB_STEP_SUMMARY` is set."""
    _append("GITHUB_STEP_SUMMARY", markdown.rstrip() + "\n\n")


def set_output(name: str, value: str) -> None:
    """Write `name=value` to `$GITHUB_OUTPUT` when set (single-line values only)."""
    if "\n" in value:
        raise ValueError("step outputs written here must be one line")
    _append("GITHUB_OUTPUT", f"{name}={value}\n")


def _append(variable: str, text: str) -> None:
    # The CLI checks both files before a command starts (outputs.check_github_files); what
    # it could not foresee (a full disk) is still one line naming the file.
    path = os.environ.get(variable)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise MmeopsError(f"cannot write ${variable} ({path}): {e.strerror}") from None
