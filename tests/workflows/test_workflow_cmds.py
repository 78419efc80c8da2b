"""The commands the workflows lean on for GitHub's sake: `mmeops affected` (which environments
a pull request is planned for) and `mmeops due --models` (a retrain by hand, within GitHub's
256 jobs). Run through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops.cli import main
from mmeops.config.affected import affected_environments
from mmeops.config.repo import load_repo

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("changed", "planned"),
    [
        # A file plans its environment and every environment promoted from it, transitively.
        (["environments/sandbox.yaml"], ["prod", "qa", "sandbox"]),
        (["environments/qa.yaml"], ["prod", "qa"]),  # a qa rollback can break prod's policy
        (["environments/prod.yaml"], ["prod"]),
        (["models/breast-cancer/query.sql"], ["prod", "qa", "sandbox"]),
        (["mmeops.yaml"], ["prod", "qa", "sandbox"]),
        (["README.md", "scripts/mmeops/cli/__init__.py"], []),  # validate only, no plan
        ([], []),
    ],
)
def test_a_change_is_planned_for_every_environment_it_can_alter(changed, planned):
    assert affected_environments(load_repo(ROOT), changed) == planned


def _run(*args: str, output: Path | None = None):
    env = {"GITHUB_OUTPUT": str(output)} if output else {}
    return CliRunner().invoke(main, ["--repo", str(ROOT), *args], env=env)


def test_affected_reads_git_diff_from_stdin_and_writes_one_output_per_environment(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["--repo", str(ROOT), "affected"],
        input="environments/qa.yaml\n",
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == ["prod", "qa"]
    assert sorted(out.read_text().splitlines()) == ["prod=true", "qa=true", "sandbox=false"]


def test_affected_without_its_file_exits_2_naming_it(tmp_path):
    missing = tmp_path / "changed.txt"
    result = _run("affected", "--changed", str(missing))
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert str(missing) in line and "Traceback" not in result.output


def test_due_models_retrains_named_models_schedule_or_not(tmp_path):
    out = tmp_path / "out"
    result = _run("due", "--models", "diabetes-progression, breast-cancer", output=out)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == ["breast-cancer", "diabetes-progression"]
    written = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert json.loads(written["models"]) == ["breast-cancer", "diabetes-progression"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--models", "no-such-model"), "unknown model 'no-such-model'"),
        (("--models", " , "), "--models names no model"),
    ],
)
def test_due_bad_input_exits_2_with_one_line(args, message, tmp_path):
    out = tmp_path / "out"
    result = _run("due", *args, output=out)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert message in line and "Traceback" not in result.output
    assert not out.exists()  # no matrix for a bad request
