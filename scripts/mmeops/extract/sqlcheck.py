"""Is a query one statement? Finds a `;` that ends a statement, outside quotes and comments.

A model's query runs inside `COPY (...)`; a `;` at the top level would let the file close
that wrapper and run statements of its own (`COMMIT; DROP TABLE ...`), so extract refuses it
before sending anything. The rules are PostgreSQL's lexer (scan.l) with
standard_conforming_strings on, which `warehouse.connect` sets: '...' with '' inside,
E'...' with backslash escapes, "identifiers", $tag$ dollar quotes $tag$, -- line comments
and nested /* block comments */.
"""

from __future__ import annotations

import re

# A dollar-quote opener: $$ or $tag$ (a tag is an identifier without `$`; `$1` is a parameter).
_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]")


def top_level_semicolon(sql: str) -> int | None:
    """The offset of the first `;` outside quotes and comments, or None."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == ";":
            return i
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            i = _block_comment_end(sql, i)
        elif c == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and not _ident_before(sql, i - 1)
            i = _quoted_end(sql, i, "'", backslash=escapes)
        elif c == '"':
            i = _quoted_end(sql, i, '"', backslash=False)
        elif c == "$" and not _ident_before(sql, i) and (m := _DOLLAR.match(sql, i)):
            end = sql.find(m.group(0), m.end())
            i = n if end < 0 else end + len(m.group(0))
        else:
            i += 1
    return None


def _ident_before(sql: str, i: int) -> bool:
    """Whether the character before offset `i` continues an identifier (so `e'` is not E'')."""
    return i > 0 and _IDENT_CHAR.match(sql[i - 1]) is not None


def _quoted_end(sql: str, start: int, quote: str, *, backslash: bool) -> int:
    """The offset just past the quoted text opened at `start` (a doubled quote stays inside)."""
    i, n = start + 1, len(sql)
    while i < n:
        c = sql[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if sql.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _block_comment_end(sql: str, start: int) -> int:
    """The offset just past the block comment opened at `start`; they nest in PostgreSQL."""
    depth, i, n = 0, start, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return n
