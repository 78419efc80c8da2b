"""Issue 27, property-based: no input ends in an internal error ("Error: unexpected ...", a
traceback) or in a write before a refusal, for every command and every kind of argument, and
for any value put on any line of any config kind.

hypothesis draws the inputs; under CI=true the `ci` profile is derandomized, so a run is
repeatable and stays within the fast tier's budget. Nothing here reaches a network: AWS and
the warehouse point at a closed local port, and the names the repository knows are never
drawn, so every command refuses its input before it would call either.
"""

from __future__ import annotations

import json
import os
import shutil
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmeops.cli import main

ROOT = Path(__file__).resolve().parents[2]
_QUIET = [HealthCheck.too_slow]
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=150, suppress_health_check=_QUIET
)
settings.register_profile("dev", deadline=None, max_examples=150, suppress_health_check=_QUIET)
# A longer search by hand: MMEOPS_HYPOTHESIS=deep pytest tests/cli/test_properties.py
settings.register_profile("deep", deadline=None, max_examples=3000, suppress_health_check=_QUIET)
settings.load_profile(
    os.environ.get("MMEOPS_HYPOTHESIS") or ("ci" if os.environ.get("CI") == "true" else "dev")
)

KNOWN = {"breast-cancer", "diabetes-progression", "sandbox", "qa", "prod"}
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused
# The embedded stack and the demo are not commands a user gives hostile input to.
SKIP = {"demo", "stack", "serve"}

HOSTILE = [
    "", " ", "-", "--", "..", "../etc", "a/b", "a\\b", "a\nb", "a\x00b", "💥", "ü", "A" * 300,
    "%s", "%(x)s", "$(id)", "`id`", "'", '"', "a;b", "*", "~", "-1", "0", "1e999", "nan",
    "9999-12-31", "0001-01-01", "2024-13-45", "99999999999d", "\udcff",
]  # fmt: skip
text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=24),
    st.text(string.ascii_lowercase + "-_.", min_size=1, max_size=12),
).filter(lambda s: s not in KNOWN)
# Paths stay relative (the test runs in a scratch folder) or are absolute places no command
# can write in (a missing folder could be created: `schema --out` makes folders).
paths = st.one_of(
    st.sampled_from(["/proc/x", "/proc/mmeops/r.md", "./", "a-file/below", "-"]),
    text.map(lambda s: "./" + s),
)


def _value(param) -> st.SearchStrategy[list[str]]:
    kind = type(param.type).__name__
    if kind == "Choice":
        values = st.one_of(st.sampled_from(list(param.type.choices)), text)
    elif kind in ("IntParamType", "IntRange"):
        values = st.one_of(st.integers(-(2**70), 2**70).map(str), text)
    elif kind in ("Path", "File"):
        values = paths
    else:
        values = text
    if param.param_type_name == "argument":
        return (
            st.lists(values, min_size=1, max_size=2)
            if param.nargs != 1
            else values.map(lambda v: [v])
        )
    flag = param.opts[0]
    if getattr(param, "is_flag", False):
        return st.sampled_from([[], [flag]])
    return st.one_of(st.just([]), values.map(lambda v: [flag, v]))


def _argv(name: str) -> st.SearchStrategy[list[str]]:
    command = main.get_command(None, name)
    parts = [_value(p) for p in command.params if p.name != "help"]
    return st.tuples(*parts).map(lambda lists: [name, *(a for part in lists for a in part)])


COMMANDS = sorted(set(main.list_commands(None)) - SKIP)
ENV = {
    "AWS_ENDPOINT_URL": CLOSED,
    "AWS_ACCESS_KEY_ID": "AKIAPROPERTYTEST0001",
    "AWS_SECRET_ACCESS_KEY": "property-test-secret",
    "MMEOPS_WAREHOUSE_DSN": "postgresql://x@127.0.0.1:9/x?connect_timeout=1",
    "GITHUB_OUTPUT": "",
    "GITHUB_STEP_SUMMARY": "",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prop") / "repo"
    root.mkdir()
    shutil.copy2(ROOT / "mmeops.yaml", root / "mmeops.yaml")
    for d in ("models", "environments"):
        shutil.copytree(ROOT / d, root / d)
    (root.parent / "a-file").write_text("a file, not a folder\n")
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _no_internal_error(result) -> None:
    out = result.output
    assert "Error: unexpected " not in out and "Traceback" not in out, out
    assert result.exit_code in (0, 1, 2, 3), (result.exit_code, out, result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}: {out}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_command_ends_in_an_internal_error_or_writes_before_refusing(repo, data):
    argv = data.draw(st.sampled_from(COMMANDS).flatmap(_argv), label="argv")
    before = _snapshot(repo)
    os.chdir(repo.parent)  # relative paths land in the scratch folder
    result = CliRunner().invoke(main, ["--repo", str(repo), *argv], env=ENV)
    _no_internal_error(result)
    if result.exit_code == 2:
        assert _snapshot(repo) == before, argv  # a refusal changed nothing in the repository


CONFIGS = [
    "mmeops.yaml",
    "models/breast-cancer/model.yaml",
    "models/diabetes-progression/model.yaml",
    "environments/sandbox.yaml",
    "environments/prod.yaml",
]
SNIPPETS = [
    "!!bool maybe", "!!int x", "!!python/object:os.system 1", "*nope", "&a 1", "<<: *a",
    "{", "[", "}", "'", '"', "2024-13-45", "2024-02-30", ".nan", ".inf", "-.inf", "1e999",
    "~", "null", "", "|", ">", "- a", "? x", "%YAML 1.1", "@x", "`x`", "0x1F", "0o17", "1_000",
    "9" * 400, "yes", "no", "on", "Off",
]  # fmt: skip
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**80), 2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
yaml_values = st.one_of(st.sampled_from(SNIPPETS), values.map(json.dumps))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_on_any_config_line_is_exit_0_or_2_at_a_path(repo, data):
    name = data.draw(st.sampled_from(CONFIGS), label="file")
    path = repo / name
    original = path.read_text()
    lines = original.splitlines()
    at = data.draw(st.integers(0, len(lines) - 1), label="line")
    key, colon, _ = lines[at].partition(":")
    value = data.draw(yaml_values, label="value")
    lines[at] = f"{key}: {value}" if colon else value
    path.write_text("\n".join(lines) + "\n")
    try:
        result = CliRunner().invoke(main, ["--repo", str(repo), "validate"], env=ENV)
    finally:
        path.write_text(original)
    _no_internal_error(result)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        problems = result.output.strip().splitlines()
        assert problems and all(p.split(":", 1)[0] in CONFIGS for p in problems), problems
