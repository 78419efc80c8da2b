"""Files a command writes besides AWS (reports): checked before the first mutation, so a
path that cannot be written stops the run at once instead of after it registered something
(issue 19, item 9)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mmeops.errors import MmeopsError, UserError


def check_writable(path: str | None, option: str) -> None:
    """UserError when `path` cannot be written: a folder, a missing or read-only folder."""
    if path is None:
        return
    problem = _unwritable(Path(path))
    if problem:
        raise UserError(f"{option} {path} {problem}; pass a file path you can write")


def _unwritable(target: Path) -> str:
    """Why `target` cannot be written, or "" when it can."""
    if "\x00" in str(target):
        return "holds a NUL byte, which no file name may"
    folder = target.parent
    try:
        if target.is_dir():
            return "is a folder"
        if not folder.is_dir():
            return f"is in {folder}, which is not an existing folder"
        if not _can_create_in(folder) or (target.exists() and not _can_append(target)):
            return "is not writable"
    except OSError as e:  # a name too long, a loop of symlinks: is_dir/exists raise these
        return f"cannot be used ({e.strerror})"
    return ""


def check_github_files() -> None:
    """The runner's files every command may append to ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY),
    checked before the command starts: a folder or an unwritable path there once crashed
    extract after its upload (issue 27)."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        check_writable(os.environ.get(name) or None, f"${name}")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in `folder`, tried for real: os.access says yes to root
    everywhere, even in /proc or on a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _can_append(target: Path) -> bool:
    """Whether an existing file opens for appending (nothing is written: its bytes and its
    modification time stay as they are)."""
    try:
        with open(target, "ab"):
            return True
    except OSError:
        return False


def check_folder(path: str | None, option: str) -> None:
    """UserError when `path` cannot be a folder to write in: a file, or below a file or a
    folder that is not writable (a missing folder is fine: it is created)."""
    if path is None:
        return
    target = Path(path)
    try:
        if "\x00" in path:
            raise OSError(0, "a NUL byte in the name")
        existing = next((p for p in (target, *target.parents) if p.exists()), Path("."))
    except OSError as e:  # a name too long, a loop of symlinks
        raise UserError(f"{option} {path} cannot be used ({e.strerror}); pass a folder") from None
    if not existing.is_dir():
        problem = f"cannot be a folder: {existing} is a file"
    elif not _can_create_in(existing):
        problem = f"cannot be written: {existing} is not writable"
    else:
        return
    raise UserError(f"{option} {path} {problem}; pass a folder you can write")


def write_text(path: str, text: str) -> None:
    """Write an output file; a failure that the check could not foresee (a full disk) is one
    line naming the file, with nothing half written left behind."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        Path(path).unlink(missing_ok=True)
        raise MmeopsError(f"cannot write {path}: {e.strerror}") from None
