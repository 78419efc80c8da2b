"""YAML with positions: ruamel.yaml round-trip loading, so every error can name its line."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
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


# A config file is a few kilobytes; a larger one is a mistake, refused before parsing it
# (a 50 MB file with an error at its end took 103 s to report, issue 19 item 11).
MAX_BYTES = 1 << 20
_TAG = re.compile(r"(?<![\w'\"])!!?[\w:/.-]*")
_DATE = re.compile(r"(?<![0-9.:-])([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])")


def read_text(path: Path) -> str:
    """A config file's text: a regular file under MAX_BYTES, in UTF-8; anything else (a
    folder, a device, a symlink loop, a huge or binary file) is a UserError on the path."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError("file not found", path) from None
    except OSError as e:
        raise UserError(f"cannot read it ({e.strerror}); make it a plain file", path) from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError("not a regular file; make it a plain YAML file", path)
    if info.st_size > MAX_BYTES:
        raise UserError(
            f"{info.st_size:,} bytes, over the {MAX_BYTES:,} a config file may have; "
            "it is not a config file, or split it",
            path,
        )
    try:
        data = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as e:
        raise UserError(f"cannot read it ({e.strerror}); make it a plain file", path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError("not UTF-8 text; save the file as UTF-8", path, line) from None
    if (line := _too_deep(text)) is not None:
        raise UserError(f"nested more than {MAX_DEPTH} levels deep; flatten the file", path, line)
    return text


MAX_DEPTH = 64


def _too_deep(text: str) -> int | None:
    """The line where [ and { nest deeper than MAX_DEPTH (outside quotes and comments), or
    None: the round-trip parser recurses per level and takes seconds to fail on thousands."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        quote = ""
        for c in line:
            if quote:
                quote = "" if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c == "#":
                break
            elif c in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return number
            elif c in "]}":
                depth -= 1
    return None


def load(path: Path) -> Any:
    """Parse a YAML file keeping positions; syntax errors and duplicate keys are UserErrors."""
    text = read_text(path)
    try:
        return round_trip().load(text)
    except RecursionError:
        raise UserError("nested too deeply; flatten the file", path) from None
    except (ValueError, TypeError, KeyError) as e:  # a value no constructor accepts: a bad
        raise _unreadable(e, text, path) from None  # date, `!!bool maybe` (KeyError)
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
    text = read_text(path)
    fast = YAML(typ="safe", pure=False)
    fast.allow_duplicate_keys = False
    try:
        return fast.load(text)
    except RecursionError:
        raise UserError("nested too deeply; flatten the file", path) from None
    except (YAMLError, ValueError, TypeError, KeyError) as e:
        load(path)  # raises the UserError with file and line for syntax and duplicates
        raise _unreadable(e, text, path) from None


def _unreadable(e: Exception, text: str, path: Path) -> UserError:
    """What the safe loader refused that the round-trip one accepts: a tag, a bad date."""
    if isinstance(e, MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        problem = (e.problem or e.context or "invalid YAML").strip()
        return UserError(
            f"{problem}; use plain YAML (no tags)", path, mark.line + 1 if mark else None
        )
    for number, line in enumerate(text.splitlines(), start=1):
        for m in _DATE.finditer(line.split("#", 1)[0]):
            try:
                dt.date(*(int(g) for g in m.groups()))
            except ValueError as bad:
                return UserError(
                    f"{m.group(0)} is not a date ({bad}); write a real date as YYYY-MM-DD",
                    path,
                    number,
                )
    for number, line in enumerate(text.splitlines(), start=1):
        if tag := _TAG.search(line.split("#", 1)[0]):
            return UserError(
                f"the tag {tag.group(0)} does not accept its value; use plain YAML (no tags)",
                path,
                number,
            )
    return UserError(f"cannot read a value ({type(e).__name__}); fix it", path)


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
            line = _key_line(node, part) or line
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _key_line(node: CommentedMap, key: Any) -> int | None:
    """1-based line of `key` in `node`, or of the anchored mapping a merge key (`<<: *a`)
    brought it from: ruamel records positions only where a key is written."""
    try:
        return node.lc.key(key)[0] + 1
    except KeyError:
        pass
    for merged in getattr(node, "merge", []):
        merged = merged[1] if isinstance(merged, tuple) else merged  # (position, map) before 0.18
        if isinstance(merged, CommentedMap) and key in merged:
            return _key_line(merged, key)
    return None
