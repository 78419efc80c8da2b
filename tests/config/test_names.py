"""Names that try path traversal, S3 key injection or shell metacharacters are refused.

Model and environment names end up in S3 keys, SageMaker resource names and workflow shell
lines. Every place a name enters (a model folder, an environment file name, the `name:` fields,
the keys of an environment's `models:` map, and the MODEL/ENV arguments of every command) must
refuse them with exit 2, before any AWS call carries them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import isolate
from mmeops import aws
from mmeops.cli import main

DP = "diabetes-progression"

BAD_NAMES = [
    "../x",
    "a/b",
    "x/../../y",
    "%2e%2e",
    "..",
    "x*",
    "x?",
    "$(id)",
    ";rm -rf x",
    "`id`",
    "'q'",
    '"q"',
    "a\nb",
    "a b",
    "a|b",
    "a&b",
    "a\\b",
    "dіabetes",  # Cyrillic і (U+0456) looks like a Latin i
    "ｄｉａｂｅｔｅｓ",  # fullwidth letters
    "diabetes\u200b",  # a zero-width space at the end
    "-h",
    "",
]
# A folder or file cannot carry a slash, and an empty or dot-only name is no file name.
FILE_NAMES = [n for n in BAD_NAMES if "/" not in n and n not in ("", "..")]


PLACES = ("models/", "environments/", "mmeops.yaml")


# The slow tier (make test-slow; CI runs it): every command refusing bad names, one process
# per command.
pytestmark = pytest.mark.slow


def ids(names: list[str]) -> list[str]:
    return [json.dumps(n, ensure_ascii=True) for n in names]


def validate(root: Path):
    return CliRunner().invoke(main, ["--repo", str(root), "validate"])


def assert_refused(result) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # One `path:line: problem` line per problem, whatever characters the path holds.
    lines = result.output.splitlines()
    assert lines and all(line.startswith(PLACES) for line in lines), lines
    assert all(re.search(r"(:\d+)?: \S", line) for line in lines), lines


def yaml_str(name: str) -> str:
    return json.dumps(name)  # a JSON string is a valid YAML double-quoted scalar


# --- in the repository's files ---------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_NAMES, ids=ids(BAD_NAMES))
def test_a_model_name_field_is_refused(repo_copy, name):
    path = repo_copy / "models" / DP / "model.yaml"
    path.write_text(path.read_text().replace(f"name: {DP}", f"name: {yaml_str(name)}"))
    result = validate(repo_copy)
    assert_refused(result)
    assert f"models/{DP}/model.yaml:2: name" in result.output


@pytest.mark.parametrize("name", FILE_NAMES, ids=ids(FILE_NAMES))
def test_a_model_folder_and_its_name_are_refused(repo_copy, name):
    folder = repo_copy / "models" / name
    shutil.copytree(repo_copy / "models" / DP, folder)
    path = folder / "model.yaml"
    path.write_text(path.read_text().replace(f"name: {DP}", f"name: {yaml_str(name)}"))
    assert_refused(validate(repo_copy))


def test_a_line_break_in_a_folder_name_cannot_inject_a_workflow_command(repo_copy):
    folder = repo_copy / "models" / "a\n::warning::injected"
    shutil.copytree(repo_copy / "models" / DP, folder)
    env = {"GITHUB_ACTIONS": "true"}
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"], env=env)
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("::")] == [
        line for line in result.output.splitlines() if line.startswith("::error file=")
    ]


@pytest.mark.parametrize("name", FILE_NAMES, ids=ids(FILE_NAMES))
def test_an_environment_file_name_and_its_name_are_refused(repo_copy, name):
    text = (repo_copy / "environments" / "sandbox.yaml").read_text()
    text = text.replace("name: sandbox", f"name: {yaml_str(name)}")
    text = text.replace("name: mme-sandbox", "name: mme-other")
    (repo_copy / "environments" / f"{name}.yaml").write_text(text)
    assert_refused(validate(repo_copy))


@pytest.mark.parametrize("name", BAD_NAMES, ids=ids(BAD_NAMES))
def test_an_environment_name_field_is_refused(repo_copy, name):
    path = repo_copy / "environments" / "qa.yaml"
    path.write_text(path.read_text().replace("name: qa", f"name: {yaml_str(name)}"))
    result = validate(repo_copy)
    assert_refused(result)
    assert "environments/qa.yaml:" in result.output


@pytest.mark.parametrize("name", BAD_NAMES, ids=ids(BAD_NAMES))
def test_a_key_of_the_models_map_is_refused(repo_copy, name):
    path = repo_copy / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("models: {}", f"models:\n  {yaml_str(name)}: 1"))
    result = validate(repo_copy)
    assert_refused(result)
    assert "environments/sandbox.yaml:" in result.output


# --- as command arguments --------------------------------------------------------------------

# Every command that takes MODEL or ENV, with the bad name in that place.
COMMANDS = [
    ("extract", lambda n: ["extract", n]),
    ("tune", lambda n: ["tune", n]),
    ("register", lambda n: ["register", n]),
    ("retrain", lambda n: ["retrain", n]),
    ("promote MODEL", lambda n: ["promote", n, "1", "--to", "sandbox"]),
    ("promote --to ENV", lambda n: ["promote", DP, "1", "--to", n]),
    ("reconcile ENV", lambda n: ["reconcile", n, "--apply"]),
    ("invoke ENV", lambda n: ["invoke", n, DP, "--body", "rows.csv"]),
    ("invoke MODEL", lambda n: ["invoke", "sandbox", n, "--body", "rows.csv"]),
]
ARG_NAMES = [n for n in BAD_NAMES if n not in ("-h", "")]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_refuses_a_bad_model_or_env_argument_before_aws_sees_it(
    command, stack, repo_copy, monkeypatch
):
    monkeypatch.chdir(repo_copy)
    (repo_copy / "rows.csv").write_text("0.1,0.2\n")
    # Private names and accounts, so reads here never meet other tests' endpoints.
    isolate(repo_copy, "names-test-")
    calls: list[tuple[str, dict]] = []
    remove = aws.add_call_listener(lambda _s, op, params: calls.append((op, params)))
    try:
        for name in ARG_NAMES:
            argv = ["--repo", str(repo_copy), *command[1](name)]
            result = CliRunner().invoke(main, argv)
            errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
            assert result.exit_code == 2, (name, result.output)
            assert len(errors) == 1 and "Traceback" not in result.output, (name, result.output)
    finally:
        remove()
    assert not [op for op, _ in calls if aws.is_mutating(op)]
    sent = json.dumps([params for _, params in calls], default=str, ensure_ascii=False)
    leaked = [n for n in ARG_NAMES if len(n) > 2 and n in sent]
    assert leaked == [], f"{command[0]}: names reached AWS calls: {leaked}"
