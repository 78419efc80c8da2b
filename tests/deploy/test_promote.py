"""`mmeops promote`: the environment file edited in place, or a refusal before any write."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops import aws
from mmeops.cli import main
from mmeops.config.repo import load_repo

MODEL = "diabetes-progression"


@pytest.fixture(autouse=True)
def no_aws(monkeypatch):
    """These tests edit files only: no AWS credentials, so promote cannot reach the registry
    and says so (test_promote_registry.py covers the registry check)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    aws.reset_sessions()
    yield
    aws.reset_sessions()


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(root), "promote", *args])
    return result.exit_code, result.output


def test_promote_pins_the_version_and_keeps_comments_and_order(repo_copy: Path) -> None:
    path = repo_copy / "environments" / "sandbox.yaml"
    before = path.read_text()
    code, out = run(repo_copy, MODEL, "3", "--to", "sandbox")
    assert code == 0 and "unpinned -> v3" in out
    after = path.read_text()
    assert after.startswith(before.split("models:")[0])  # comments and keys untouched
    assert after.endswith(f"models:\n  {MODEL}: 3\n")
    assert load_repo(repo_copy).envs["sandbox"].models == {MODEL: 3}

    code, out = run(repo_copy, "breast-cancer", "1", "--to", "sandbox")
    code, out = run(repo_copy, MODEL, "4", "--to", "sandbox")
    assert code == 0 and "v3 -> v4" in out
    assert path.read_text().endswith(f"models:\n  {MODEL}: 4\n  breast-cancer: 1\n")


def test_promote_follows_promotion_from(repo_copy: Path) -> None:
    assert run(repo_copy, MODEL, "2", "--to", "sandbox")[0] == 0
    assert run(repo_copy, MODEL, "2", "--to", "qa")[0] == 0
    code, out = run(repo_copy, MODEL, "2", "--to", "qa")
    assert code == 0 and "already pinned" in out


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["no-such-model", "1", "--to", "sandbox"], "unknown model 'no-such-model'"),
        ([MODEL, "0", "--to", "sandbox"], "version must be a positive whole number"),
        (["--to", "sandbox", "--", MODEL, "-3"], "positive"),
        ([MODEL, "1", "--to", "qa"], "not pinned in environments/sandbox.yaml"),
        ([MODEL, "1", "--to", "nowhere"], "unknown environment 'nowhere'"),
    ],
)
def test_promote_refuses_what_policy_refuses(repo_copy: Path, args, expect) -> None:
    files = {p: p.read_text() for p in (repo_copy / "environments").glob("*.yaml")}
    code, out = run(repo_copy, *args)
    assert code == 2 and expect in out
    assert {p: p.read_text() for p in files} == files  # nothing written


def test_promote_refuses_a_version_newer_than_upstream(repo_copy: Path) -> None:
    run(repo_copy, MODEL, "2", "--to", "sandbox")
    code, out = run(repo_copy, MODEL, "3", "--to", "qa")
    assert code == 2
    assert "environments/sandbox.yaml:" in out and "which pins v2" in out
