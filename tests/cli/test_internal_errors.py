"""Issue 27: inputs that once ended in "Error: unexpected X at file:line" (exit 1), or wrote
something before crashing. Each now ends with a clear line and the right exit code, and a
command that refuses its input writes nothing first: no upload, no history row, no output."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops import aws
from mmeops.cli import main
from mmeops.config.repo import load_repo

BC = "models/breast-cancer/model.yaml"


def run(root: Path, *args: str, env: dict | None = None):
    result = CliRunner().invoke(main, ["--repo", str(root), *args], env=env)
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    return result


def line_of(path: Path, needle: str) -> int:
    return next(n for n, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


# --- config files: YAML merge keys and tags ---------------------------------------------------


def test_a_wrong_value_brought_by_a_merge_key_is_exit_2_at_the_anchors_line(repo_copy):
    path = repo_copy / BC
    text = path.read_text().replace(
        "split:\n  validation: 0.2\n  test: 0.2\n",
        "x-split: &s\n  validation: 7\nsplit:\n  <<: *s\n  test: 0.2\n",
    )
    path.write_text(text)
    result = run(repo_copy, "validate")
    assert result.exit_code == 2
    assert f"{BC}:{line_of(path, 'validation: 7')}: split.validation" in result.output


def test_a_tag_refusing_its_value_is_exit_2_at_its_line(repo_copy):
    path = repo_copy / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("approve: false", "approve: !!bool maybe"))
    result = run(repo_copy, "validate")
    assert result.exit_code == 2
    line = line_of(path, "maybe")
    assert f"environments/sandbox.yaml:{line}: the tag !!bool does not accept" in result.output


# --- due and affected -------------------------------------------------------------------------


def test_due_at_the_end_of_time_fires_what_fits_and_nothing_after(repo_copy):
    result = run(repo_copy, "due", "--since", "9999-12-31T00:00Z", "--until", "9999-12-31T23:59Z")
    assert result.exit_code == 0, result.output
    # breast-cancer fires daily at 04:00; diabetes-progression's next Monday is past year 9999.
    assert json.loads(result.output) == ["breast-cancer"]


@pytest.mark.parametrize("window", ["99999999999d", "9" * 40 + "m"])
def test_due_with_a_window_reaching_before_year_1_is_exit_2(repo_copy, window):
    result = run(repo_copy, "due", "--window", window)
    assert result.exit_code == 2 and "shorter window" in result.output


def test_affected_reads_paths_that_are_not_utf8(repo_copy, tmp_path):
    changed = tmp_path / "changed"
    changed.write_bytes(b"models/breast-cancer/caf\xe9.sql\n")
    result = run(repo_copy, "affected", "--changed", str(changed))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == ["prod", "qa", "sandbox"]


# --- the runner's files: checked before the command starts ------------------------------------


@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
@pytest.mark.parametrize("where", ["folder", "missing folder", "in /proc"])
def test_a_runner_file_that_cannot_be_written_stops_any_command_at_once(
    repo_copy, tmp_path, variable, where
):
    path = {
        "folder": str(tmp_path),
        "missing folder": str(tmp_path / "nope" / "out"),
        "in /proc": "/proc/mmeops-out",
    }[where]
    result = run(repo_copy, "due", "--models", "breast-cancer", env={variable: path})
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        next(t for t in result.output.splitlines() if t.startswith(f"Error: ${variable} {path}"))
    ]
    assert "breast-cancer" not in result.output  # the command did not run


# --- on the embedded stack: nothing uploaded before a refusal ---------------------------------


def _datasets(repo_root: Path, model: str) -> list[str]:
    repo = load_repo(repo_root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    listed = training.call(
        "s3", "list_objects_v2", Bucket=repo.settings.bucket, Prefix=f"datasets/{model}/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.parametrize(
    ("option", "env"),
    [
        (("--out", "/proc/x"), {}),
        ((), {"GITHUB_STEP_SUMMARY": "/"}),
        ((), {"GITHUB_OUTPUT": "/proc/mmeops-out"}),
    ],
    ids=["out-in-proc", "summary-is-a-folder", "output-in-proc"],
)
def test_extract_refuses_an_output_it_cannot_write_before_uploading(stack, repo_copy, option, env):
    model = f"ie{uuid.uuid4().hex[:6]}"
    src = (repo_copy / "models" / "diabetes-progression").resolve()
    (repo_copy / "models" / model).mkdir()
    (repo_copy / "models" / model / "query.sql").write_text((src / "query.sql").read_text())
    (repo_copy / "models" / model / "model.yaml").write_text(
        (src / "model.yaml").read_text().replace("name: diabetes-progression", f"name: {model}")
    )
    result = run(repo_copy, "extract", model, *option, env=env)
    assert result.exit_code == 2, result.output
    assert _datasets(repo_copy, model) == []
