"""Helpers shared by test modules in several folders (tests/ is on sys.path: conftest.py's
folder, in pytest's default import mode)."""

from __future__ import annotations

from pathlib import Path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
