"""YAML with positions: ruamel.yaml round-trip loading, so every error can name its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mmeops.errors import UserError


def round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def load(path: Path) -> Any:
    """Parse a YAML file keeping positions; syntax errors and duplicate keys are UserErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    except UnicodeDecodeError:
        raise UserError("not UTF-8 text; save the file as UTF-8", path) from None
    try:
        return round_trip().load(text)
    except DuplicateKeyError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        key = _duplicate_key(e)
        raise UserError(f"duplicate key {key}; keep only one of them", path, line) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise UserError(f"YAML syntax error: {problem}; fix the syntax", path, line) from None
    except YAMLError as e:
        raise UserError(f"YAML error: {e}", path) from None


def load_plain(path: Path) -> Any:
    """Parse a YAML file into plain Python, fast (libyaml through ruamel.yaml.clib when
    installed). Errors are reported by the round-trip parser, which knows their positions;
    positions of valid files are only computed when a problem needs one (`load`)."""
    fast = YAML(typ="safe", pure=False)
    fast.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
        return fast.load(text)
    except (OSError, UnicodeDecodeError, YAMLError):
        load(path)  # raises the UserError with file and line
        raise


def _duplicate_key(e: DuplicateKeyError) -> str:
    # ruamel's problem text reads: found duplicate key "x" with value ... (original value: ...)
    problem = e.problem or ""
    start = problem.find('"')
    end = problem.find('"', start + 1)
    return problem[start : end + 1] if start >= 0 and end > start else "(unknown)"


def line_of(root: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest part of `loc` present in the document.

    A missing key reports the line of its parent, the place where it should be added.
    """
    node = root
    line = (node.lc.line + 1) if hasattr(node, "lc") and node.lc.line is not None else 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line
