"""Whatever sits where a config file should be, `mmeops validate` answers with exit 2 and one
line naming the file (and the line when there is one), at once, never a traceback (issue 19,
items 7 and 11)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops.cli import main

QA = "environments/qa.yaml"
MODEL = "models/diabetes-progression/model.yaml"


def replace_line(path: Path, start: str, new: str) -> int:
    """Replace the line starting with `start`; returns its number."""
    lines = path.read_text().splitlines()
    number = next(i for i, t in enumerate(lines) if t.startswith(start))
    lines[number] = new
    path.write_text("\n".join(lines) + "\n")
    return number + 1


def as_directory(root: Path) -> tuple[str, int | None]:
    (root / QA).unlink()
    (root / QA).mkdir()
    return QA, None


def symlink_loop(root: Path) -> tuple[str, int | None]:
    (root / QA).unlink()
    (root / QA).symlink_to(root / QA)
    return QA, None


def device(root: Path) -> tuple[str, int | None]:
    (root / MODEL).unlink()
    (root / MODEL).symlink_to("/dev/zero")  # would be read forever
    return MODEL, None


def outside(root: Path) -> tuple[str, int | None]:
    elsewhere = root.parent / "elsewhere.yaml"
    elsewhere.write_text((root / QA).read_text())
    (root / QA).unlink()
    (root / QA).symlink_to(elsewhere)
    return QA, None


def not_utf8(root: Path) -> tuple[str, int | None]:
    return QA, replace_line(root / QA, "region:", "region: us-east-1 # caf\xe9")


def too_large(root: Path) -> tuple[str, int | None]:
    with (root / QA).open("a") as f:
        f.write("# padding\n" * 200_000 + "retention: [\n")  # 2 MB, the error at the end
    return QA, None


def custom_tag(root: Path) -> tuple[str, int | None]:
    return QA, replace_line(root / QA, "retention:", "retention: !!python/object:os.system 3")


def bad_date(root: Path) -> tuple[str, int | None]:
    return MODEL, replace_line(root / MODEL, "  start:", "  start: 2024-13-45")


def deep(root: Path) -> tuple[str, int | None]:
    with (root / QA).open("a") as f:
        f.write("extra: " + "[" * 5000 + "]" * 5000 + "\n")
    return QA, None


def merge_key(root: Path) -> tuple[str, int | None]:
    with (root / QA).open("a") as f:
        f.write("base: &b {x: 1}\nmerged:\n  <<: *b\n")
    return QA, len((root / QA).read_text().splitlines()) - 2


CASES = {f.__name__: f for f in (as_directory, symlink_loop, device, outside, not_utf8,
                                 too_large, custom_tag, bad_date, deep, merge_key)}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_config_file_is_one_line_at_its_path_and_exit_2(repo_copy, case):
    shown, line = CASES[case](repo_copy)
    if case == "not_utf8":
        text = (repo_copy / QA).read_text()
        (repo_copy / QA).write_bytes(text.encode("latin-1"))
    started = time.monotonic()
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    # The file's own problem first; a removed file may add what others miss (promotion_from).
    lines = result.output.strip().splitlines()
    assert all(":" in t and "Traceback" not in t for t in lines), result.output
    where = f"{shown}:{line}: " if line else f"{shown}"
    assert lines[0].startswith(where), (where, lines[0])
    assert elapsed < 5, elapsed
    assert os.path.lexists(repo_copy / shown)  # nothing removed or rewritten
