"""Two environments never share artifacts (issue 19, item 2): validation refuses prefixes
that are equal or nested, and a prefix already routed by another environment's manifest (a
second repository, which validation cannot see) stops plan and apply before any call that
mutates, so `--prune` cannot delete what the other environment serves."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_reconcile import Calls, World, deploy_one, world  # noqa: F401

from helpers import line_of
from mmeops.cli import main


def set_prefix(root: Path, env: str, prefix: str) -> None:
    path = root / "environments" / f"{env}.yaml"
    path.write_text(re.sub(r"artifact_prefix: .*", f"artifact_prefix: {prefix}", path.read_text()))


@pytest.mark.parametrize(
    ("prefix", "how"),
    [
        ("s3://mmeops-qa-333333333333/mme/", "is the same as"),
        ("s3://mmeops-qa-333333333333/mme/sandbox/", "overlaps"),  # inside qa's
        ("s3://mmeops-qa-333333333333/", "overlaps"),  # around qa's
    ],
)
def test_validate_refuses_artifact_prefixes_that_are_equal_or_nested(repo_copy, prefix, how):
    set_prefix(repo_copy, "sandbox", prefix)
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 2, result.output
    line = line_of(repo_copy / "environments" / "sandbox.yaml", "artifact_prefix:")
    (message,) = result.output.strip().splitlines()
    assert message.startswith(f"environments/sandbox.yaml:{line}: artifact_prefix {prefix} {how}")
    assert "environments/qa.yaml's s3://mmeops-qa-333333333333/mme/" in message


def test_a_sibling_prefix_with_a_common_start_is_accepted(repo_copy):
    set_prefix(repo_copy, "sandbox", "s3://mmeops-qa-333333333333/mme-sandbox/")
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 0, result.output


def test_another_repositorys_environment_on_the_same_prefix_is_stopped_before_prune(
    world: World,  # noqa: F811 (the fixture imported above)
    tmp_path,
) -> None:
    deploy_one(world, "shared")
    before = world.manifest("sandbox")
    e = world.env("sandbox")
    keys = {o.key for o in world.admin(e.account_id).list_objects(e.artifact_bucket, "")}

    # A second repository whose `scratch` environment names the same prefix and pins nothing.
    other = tmp_path / "other"
    shutil.copytree(world.root, other)
    sandbox = other / "environments" / "sandbox.yaml"
    text = sandbox.read_text().replace("name: sandbox", "name: scratch")
    (other / "environments" / "scratch.yaml").write_text(
        re.sub(r"models:.*", "models: {}", text, flags=re.S)
    )
    sandbox.unlink()
    for path in (other / "environments").glob("*.yaml"):
        path.write_text(path.read_text().replace("from: sandbox", "from: scratch"))
    line = line_of(other / "environments" / "scratch.yaml", "artifact_prefix:")
    for args in (["--plan"], ["--apply", "--prune"], ["--check"]):
        with Calls() as calls:
            result = CliRunner().invoke(main, ["--repo", str(other), "reconcile", "scratch", *args])
        assert result.exit_code == 2, result.output
        assert f"environments/scratch.yaml:{line}: " in result.output
        assert "is environment 'sandbox''s routing manifest, not 'scratch''s" in result.output
        assert calls.mutating() == []
    assert world.manifest("sandbox") == before
    assert {o.key for o in world.admin(e.account_id).list_objects(e.artifact_bucket, "")} == keys
