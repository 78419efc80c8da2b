"""`mmeops undeployed`: deploy.yml applies each environment whose file, models/ or mmeops.yaml
differ from what its last successful deployment applied (issue 24, items 3-4).

The defect: deploy.yml diffed only the pushed commits, so a qa change in a merge whose sandbox
deploy failed was never applied (the next push changed only sandbox), and a change to models/
or mmeops.yaml never triggered a deploy. Here a real git history and the real CLI.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops.cli import main


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return _git(root, "rev-parse", "HEAD")


@pytest.fixture
def history(repo_copy: Path) -> Path:
    _git(repo_copy, "init", "-q", "-b", "main")
    _commit(repo_copy, "initial")
    return repo_copy


def _undeployed(root: Path, output: Path, **deployed: str):
    args = [f"--deployed={env}={sha}" for env, sha in deployed.items()]
    result = CliRunner().invoke(
        main, ["--repo", str(root), "undeployed", *args], env={"GITHUB_OUTPUT": str(output)}
    )
    assert result.exit_code == 0, result.output
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    output.unlink()
    return json.loads(result.stdout.splitlines()[-1]), written


def _touch(path: Path) -> None:
    path.write_text(path.read_text() + "\n# touched\n")


def test_a_change_a_failed_sandbox_run_skipped_is_applied_by_the_next_run(history, tmp_path):
    out = tmp_path / "out"
    deployed = _git(history, "rev-parse", "HEAD")  # all three applied this commit
    _touch(history / "environments" / "sandbox.yaml")
    _touch(history / "environments" / "qa.yaml")
    _commit(history, "sandbox and qa change; sandbox's deploy fails, qa is skipped")
    first, written = _undeployed(history, out, sandbox=deployed, qa=deployed, prod=deployed)
    assert first == ["qa", "sandbox"]
    assert written == {"prod": "false", "qa": "true", "sandbox": "true"}
    # The next push changes sandbox only; qa's last successful deployment is still `deployed`.
    _touch(history / "environments" / "sandbox.yaml")
    _commit(history, "sandbox only")
    again, _ = _undeployed(history, out, sandbox=deployed, qa=deployed, prod=deployed)
    assert again == ["qa", "sandbox"]  # the old rule (this push's diff) said ["sandbox"]
    # Once qa's deployment of HEAD succeeded, there is nothing left for it.
    head = _git(history, "rev-parse", "HEAD")
    done, _ = _undeployed(history, out, sandbox=head, qa=head, prod=deployed)
    assert done == []


@pytest.mark.parametrize("path", ["models/breast-cancer/query.sql", "mmeops.yaml"])
def test_a_model_or_settings_change_is_applied_everywhere(history, tmp_path, path):
    deployed = _git(history, "rev-parse", "HEAD")
    _touch(history / path)
    _commit(history, f"change {path}")
    chosen, _ = _undeployed(history, tmp_path / "o", sandbox=deployed, qa=deployed, prod=deployed)
    assert chosen == ["prod", "qa", "sandbox"]


def test_an_upstream_file_is_not_applied_downstream(history, tmp_path):
    """Unlike the plan (mmeops affected), qa's file is not prod's to apply."""
    deployed = _git(history, "rev-parse", "HEAD")
    _touch(history / "environments" / "qa.yaml")
    (history / "README.md").write_text("docs\n")
    _commit(history, "qa and a readme")
    chosen, _ = _undeployed(history, tmp_path / "o", sandbox=deployed, qa=deployed, prod=deployed)
    assert chosen == ["qa"]


def test_never_deployed_or_unknown_commit_applies(history, tmp_path):
    head = _git(history, "rev-parse", "HEAD")
    chosen, _ = _undeployed(history, tmp_path / "o", sandbox=head, qa="", prod="abc1234")
    assert chosen == ["prod", "qa"]  # prod's commit is not in this clone (a rewritten history)


@pytest.mark.parametrize("bad", ["staging=abc1234", "sandbox", "sandbox=--output=/tmp/x"])
def test_a_bad_deployed_value_is_exit_2_naming_the_fix(history, bad):
    result = CliRunner().invoke(main, ["--repo", str(history), "undeployed", "--deployed", bad])
    assert result.exit_code == 2
    assert "ENV=SHA" in result.output and "Traceback" not in result.output
