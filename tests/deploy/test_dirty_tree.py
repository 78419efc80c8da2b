"""Issue 27: `reconcile --apply` records a commit in the manifest, so the files it deploys must
be that commit: in a git work tree, config files that differ are refused unless --allow-dirty;
on a runner, the work tree must be at GITHUB_SHA; outside git the commit is unknown (a
warning). Each refusal comes before any AWS call (no stack runs in this module)."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner

from mmeops.cli import main
from mmeops.gitinfo import deploy_check


def git(root, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def committed(root):
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return git(root, "rev-parse", "HEAD")


def apply(root):
    return CliRunner().invoke(main, ["--repo", str(root), "reconcile", "sandbox", "--apply"])


def test_an_edited_environment_file_is_refused_unless_allow_dirty(repo_copy, monkeypatch):
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    head = committed(repo_copy)
    env = repo_copy / "environments" / "sandbox.yaml"
    env.write_text(env.read_text().replace("retention: 3", "retention: 2"))
    result = apply(repo_copy)
    assert result.exit_code == 2, result.output
    assert f"environments/sandbox.yaml (and 0 more) differ from commit {head[:12]}" in result.output
    assert "--allow-dirty" in result.output
    assert deploy_check(repo_copy, allow_dirty=True) == ""


def test_on_a_runner_the_work_tree_must_be_at_github_sha(repo_copy, monkeypatch):
    head = committed(repo_copy)
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)
    result = apply(repo_copy)
    assert result.exit_code == 2, result.output
    assert f"the work tree is at {head[:12]} but GITHUB_SHA is ffffffffffff" in result.output


def test_outside_git_the_commit_is_unknown_and_said_so(repo_copy, monkeypatch):
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    assert "git_sha unknown" in deploy_check(repo_copy, allow_dirty=False)
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)
    assert deploy_check(repo_copy, allow_dirty=False) == ""
