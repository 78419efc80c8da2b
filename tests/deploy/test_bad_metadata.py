"""Issue 27: objects read back from AWS that once crashed a command (exit 1, "unexpected"):
a routing manifest that does not parse, read by `routes`; a package whose `artifact_size`
metadata is not a whole number, read by plan and check."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_reconcile import World, add_model

from helpers import isolate
from mmeops.cli import main

# The slow tier (make test-slow; CI runs it): packages and manifests with bad metadata.
pytestmark = pytest.mark.slow


def run(root, *args: str):
    result = CliRunner().invoke(main, ["--repo", str(root), *args])
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    return result


def test_routes_on_a_manifest_that_does_not_parse_names_its_key(stack, repo_copy):
    world = World(repo_copy, isolate(repo_copy, "ie"))
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    world.env_aws("sandbox").put_bytes(e.artifact_bucket, key, b'{"environment": "sandbox", "mo')
    result = run(repo_copy, "routes", "sandbox")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert f"s3://{e.artifact_bucket}/{key} is not a routing manifest" in line


def test_a_package_whose_artifact_size_is_not_a_number_is_refused_at_its_line(
    stack, repo_copy, monkeypatch
):
    monkeypatch.setenv("GITHUB_SHA", "0" * 40)
    world = World(repo_copy, isolate(repo_copy, "ie"))
    model = f"m{world.uid}-size"
    add_model(world, model)
    version = world.register(model)
    package = world.package(model, version)
    meta = {**package["CustomerMetadataProperties"], "artifact_size": "12 kB"}
    # As the stack's admin: no mmeops role may rewrite package metadata (issue 23).
    world.admin(world.repo.settings.training.account_id).call(
        "sagemaker",
        "update_model_package",
        ModelPackageArn=package["ModelPackageArn"],
        ModelApprovalStatus=package["ModelApprovalStatus"],
        ApprovalDescription="-",
        CustomerMetadataProperties=meta,
    )
    world.mmeops("promote", model, str(version), "--to", "sandbox")
    for mode in ("--check", "--plan"):
        result = run(repo_copy, "reconcile", "sandbox", mode)
        assert result.exit_code == 2, result.output
        assert "artifact_size (a whole number)" in result.output
        assert "environments/sandbox.yaml:" in result.output
