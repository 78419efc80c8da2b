"""An operation's input checked against botocore's service model, as AWS checks it server-side.

botocore's client checks only required members, types and minimum lengths; AWS also checks
enums, string patterns, maximum lengths, numeric ranges and list and map sizes (the model's
`enum`, `pattern`, `min`, `max`). This module walks an input dict against its shape and returns
one `Problem` per violated constraint, named the way AWS's validation messages name it:
`warmStartConfig.warmStartType`, `tags.1.member.key`.

The model's patterns are Java regular expressions (AWS's services validate with Java): classes
such as `\\p{L}` need the `regex` package, and UTF-16 surrogate pairs written as `\\uD800\\uDC00`
are one code point in Java, so they are joined before compiling. AWS matches the whole value
(Java's `Pattern.matches`), so a pattern without anchors still constrains every character.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape

_NUMBERS = ("integer", "long", "float", "double")
_SURROGATE_PAIR = regex.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", regex.I)


@dataclass(frozen=True)
class Problem:
    """One violated constraint: where (AWS's member path), the value, and the rule."""

    path: str
    value: Any
    constraint: str

    def message(self) -> str:
        """`Value 'X' at 'a.b' failed to satisfy constraint: Member must ...` (AWS's form)."""
        shown = "null" if self.value is None else f"'{_java_str(self.value)}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def summary(problems: list[Problem]) -> str:
    """AWS's one-line message for a request's violations: `2 validation errors detected: ...`."""
    noun = "error" if len(problems) == 1 else "errors"
    details = "; ".join(p.message() for p in problems)
    return f"{len(problems)} validation {noun} detected: {details}"


def _java_str(value: Any) -> str:
    """A value as AWS's (Java) messages print it: lists `[a, b]`, maps `{k=v}`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# Java's shorthand and POSIX classes are ASCII-only (Java without UNICODE_CHARACTER_CLASS);
# Python's are Unicode. As ranges, usable inside a class or, bracketed, outside one.
_ASCII_CLASSES = {
    r"\w": "a-zA-Z_0-9",
    r"\W": "\\x00-\\x2F\\x3A-\\x40\\x5B-\\x5E\\x60\\x7B-\\U0010FFFF",
    r"\d": "0-9",
    r"\D": "\\x00-\\x2F\\x3A-\\U0010FFFF",
    r"\s": " \\t\\n\\x0B\\f\\r",
    r"\S": "\\x00-\\x08\\x0E-\\x1F\\x21-\\U0010FFFF",
    r"\p{Alnum}": "a-zA-Z0-9",
    r"\p{Alpha}": "a-zA-Z",
    r"\p{Digit}": "0-9",
    r"\p{Lower}": "a-z",
    r"\p{Upper}": "A-Z",
    r"\p{ASCII}": "\\x00-\\x7F",
    r"\p{Print}": "\\x20-\\x7E",
    r"\p{Graph}": "\\x21-\\x7E",
    r"\p{Punct}": "!-/:-@\\[-`{-~",
}
_TOKEN = regex.compile(r"\\p\{\w+\}|\\.|\[|\]|[^\\\[\]]+", regex.S)


def _ascii_classes(java: str) -> str:
    """Java's ASCII-only classes spelled out, inside a character class or outside one."""
    out, depth = [], 0
    for part in _TOKEN.findall(java):
        if part == "[":
            depth += 1
        elif part == "]" and depth:
            depth -= 1
        elif part in _ASCII_CLASSES:
            ranges = _ASCII_CLASSES[part]
            part = ranges if depth else f"[{ranges}]"
        out.append(part)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _pattern(java: str) -> regex.Pattern | None:
    """The Java pattern compiled for `regex`; None when it cannot be (it is then not checked)."""
    joined = _SURROGATE_PAIR.sub(
        lambda m: "\\U%08X" % (0x10000 + ((int(m[1], 16) - 0xD800) << 10) + int(m[2], 16) - 0xDC00),
        java,
    )
    try:
        return regex.compile(_ascii_classes(joined), regex.V0)
    except regex.error:
        return None


def _member_path(parent: str, name: str) -> str:
    # AWS names members lowerCamelCase in its messages: WarmStartConfig -> warmStartConfig.
    member = name[:1].lower() + name[1:]
    return f"{parent}.{member}" if parent else member


def _scalar_rules(shape: Shape, value: Any) -> list[str]:
    """The constraints a string, number or blob value violates, as AWS words them."""
    meta = shape.metadata
    broken: list[str] = []
    if shape.type_name == "string" and isinstance(value, str):
        enum = shape.enum
        if enum and value not in enum:
            broken.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        if "max" in meta and len(value) > meta["max"]:
            broken.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            broken.append(f"Member must have length greater than or equal to {meta['min']}")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and pattern.fullmatch(value) is None:
            broken.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    elif (
        shape.type_name in _NUMBERS
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        if "max" in meta and value > meta["max"]:
            broken.append(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta and value < meta["min"]:
            broken.append(f"Member must have value greater than or equal to {meta['min']}")
    return broken


def _size_rules(shape: Shape, size: int) -> list[str]:
    meta = shape.metadata
    broken = []
    if "max" in meta and size > meta["max"]:
        broken.append(f"Member must have length less than or equal to {meta['max']}")
    if "min" in meta and size < meta["min"]:
        broken.append(f"Member must have length greater than or equal to {meta['min']}")
    return broken


def _is_scalar(shape: Shape) -> bool:
    return not isinstance(shape, (StructureShape, ListShape, MapShape))


def check(shape: Shape | None, value: Any, path: str = "") -> list[Problem]:
    """Every constraint `value` violates under `shape`, recursively (empty when valid)."""
    if shape is None or value is None:
        return []
    if isinstance(shape, StructureShape):
        return _check_structure(shape, value, path)
    if isinstance(shape, ListShape):
        return _check_list(shape, value, path)
    if isinstance(shape, MapShape):
        return _check_map(shape, value, path)
    return [Problem(path, value, rule) for rule in _scalar_rules(shape, value)]


def _check_structure(shape: StructureShape, value: Any, path: str) -> list[Problem]:
    if not isinstance(value, dict):
        return []
    problems: list[Problem] = []
    for name, member in shape.members.items():
        member_path = _member_path(path, name)
        if name not in value or value[name] is None:
            if name in shape.required_members:
                problems.append(Problem(member_path, None, "Member must not be null"))
            continue
        problems.extend(check(member, value[name], member_path))
    return problems


def _check_list(shape: ListShape, value: Any, path: str) -> list[Problem]:
    if not isinstance(value, list):
        return []
    problems = [Problem(path, value, rule) for rule in _size_rules(shape, len(value))]
    member = shape.member
    if _is_scalar(member):
        # A list of scalars is reported once, as AWS does: `Member must satisfy constraint: [...]`.
        rules = sorted({rule for item in value for rule in _scalar_rules(member, item)})
        if rules:
            problems.append(
                Problem(path, value, f"Member must satisfy constraint: [{', '.join(rules)}]")
            )
        return problems
    for index, item in enumerate(value, start=1):
        problems.extend(check(member, item, f"{path}.{index}.member"))
    return problems


def _check_map(shape: MapShape, value: Any, path: str) -> list[Problem]:
    if not isinstance(value, dict):
        return []
    problems = [Problem(path, value, rule) for rule in _size_rules(shape, len(value))]
    key_rules = sorted({rule for key in value for rule in _scalar_rules(shape.key, key)})
    if key_rules:
        problems.append(
            Problem(path, value, f"Map keys must satisfy constraint: [{', '.join(key_rules)}]")
        )
    if _is_scalar(shape.value):
        rules = sorted(
            {rule for item in value.values() for rule in _scalar_rules(shape.value, item)}
        )
        if rules:
            problems.append(
                Problem(path, value, f"Map value must satisfy constraint: [{', '.join(rules)}]")
            )
        return problems
    for key, item in value.items():
        problems.extend(check(shape.value, item, f"{path}.{key}.member"))
    return problems


# --- types (JSON protocols) --------------------------------------------------------------------
# A JSON service reads its body into typed members before it validates them: a value of the
# wrong JSON type is refused as a SerializationException, not as a constraint violation.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "blob": (str,),  # base64
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (int, float, str),  # epoch seconds, or an ISO 8601 string
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
}
_TYPE_NAMES = {"integer": "Integer", "long": "Long", "float": "Float", "double": "Double"}


def mistyped(shape: Shape | None, value: Any, path: str = "") -> Problem | None:
    """The first member whose JSON value is not of its shape's type; None when all are."""
    if shape is None or value is None or shape.metadata.get("document"):
        return None  # a document member holds any JSON value
    allowed = _JSON_TYPES.get(shape.type_name)
    wrong_bool = isinstance(value, bool) and bool not in (allowed or ())
    if allowed is not None and (not isinstance(value, allowed) or wrong_bool):
        expected = _TYPE_NAMES.get(shape.type_name, shape.type_name)
        return Problem(path, value, f"Member must be of type {expected}")
    children: list[tuple[Shape, Any, str]] = []
    if isinstance(shape, StructureShape):
        children = [
            (shape.members[k], v, _member_path(path, k))
            for k, v in value.items()
            if k in shape.members
        ]
    elif isinstance(shape, ListShape):
        children = [(shape.member, v, f"{path}.{i}.member") for i, v in enumerate(value, start=1)]
    elif isinstance(shape, MapShape):
        children = [(shape.value, v, f"{path}.{k}.member") for k, v in value.items()]
    for child_shape, child, child_path in children:
        found = mistyped(child_shape, child, child_path)
        if found is not None:
            return found
    return None
