"""The project's own errors. The CLI maps each to an exit code and one line of text.

Exit codes: 1 a failure at run time (AWS, a smoke test), 2 bad input a user can fix
(nothing was mutated), 3 a verdict (a failed gate, drift found).
"""

from __future__ import annotations

import re
from pathlib import Path


class MmeopsError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def _escape(match: re.Match) -> str:
    return {"\n": "\\n", "\r": "\\r"}.get(match.group(0)) or match.group(0).encode(
        "unicode_escape"
    ).decode()


class UserError(MmeopsError):
    """Bad input: a config, a SQL file, an argument. Raised before anything is mutated.

    With a path (and a line), the message reads `path:line: message`, the form editors
    and GitHub annotations understand.
    """

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        # A folder name or a YAML key may hold a line break (or another character that
        # str.splitlines breaks on: \x1c-\x1e, \x85, \u2028...): escaped, one problem stays
        # one line, as the `path:line: message` form promises.
        return _LINE_BREAKS.sub(_escape, f"{where}: {self.message}")


class ConfigErrors(UserError):
    """Several problems found at once (validate reports them all, not just the first)."""

    def __init__(self, problems: list[UserError]):
        self.problems = problems
        super().__init__("\n".join(p.format() for p in problems))


class AwsError(MmeopsError):
    """An AWS call failed; the message names the operation and AWS's own error code."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        status: int | None = None,
        details: dict | None = None,
    ):
        self.operation = operation
        self.code = code
        self.message = message
        # The HTTP status and the error shape's modeled members (sagemaker-runtime's ModelError
        # carries OriginalStatusCode and OriginalMessage): the front door answers with them.
        self.status = status
        self.details = details or {}
        super().__init__(f"{operation} failed: {code}: {message}")


class NotFound(AwsError):
    """The resource does not exist (NoSuchKey, ValidationException 'does not exist', 404)."""


class PreconditionFailed(AwsError):
    """A conditional write lost its race (412): someone else wrote first."""


class CorruptObject(MmeopsError):
    """An object mmeops wrote and reads back (manifest, lease, lineage) does not parse: names
    the object and what to do. `etag` lets a run that owns the object replace it."""

    def __init__(self, message: str, etag: str | None = None):
        self.etag = etag
        super().__init__(message)


class GateFailed(MmeopsError):
    """The challenger did not earn registration."""

    exit_code = 3


class RegistryChanged(UserError):
    """A version the file pins and the endpoint serves was Rejected in the registry after it
    was deployed: the file was fine when merged, so this is a verdict on live state (exit 3),
    not bad input, though it names the file's line to change."""

    exit_code = 3


class DriftDetected(MmeopsError):
    """`reconcile --check`: live differs from desired."""

    exit_code = 3


class LeaseHeld(MmeopsError):
    """Another reconcile of the same environment holds the lease."""

    exit_code = 1
