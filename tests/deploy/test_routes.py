"""Issue 17, item 5: `mmeops routes ENV` tells a client author what to call, from the live
routing manifest: TargetModel, version and the order of the features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_reconcile import World, add_model, isolate

from mmeops.config.repo import load_repo
from mmeops.extract.run import extract
from mmeops.stack.iam import middleware
from mmeops.tune.run import tune

DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


# The slow tier (make test-slow; CI runs it): `mmeops routes` end to end.
pytestmark = pytest.mark.slow


def write_manifest(world: World, body: dict) -> None:
    e = world.env("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    world.env_aws("sandbox").put_bytes(e.artifact_bucket, key, json.dumps(body).encode())


def test_routes_lists_target_model_version_and_feature_order(stack, repo_copy: Path):
    world = World(repo_copy, isolate(repo_copy, "r"))
    trained, bare = f"m{world.uid}-trained", f"m{world.uid}-bare"
    add_model(world, trained)
    add_model(world, bare)
    path = repo_copy / "models" / trained / "model.yaml"
    path.write_text(path.read_text().replace("max_jobs: 12", "max_jobs: 2"))
    repo = load_repo(repo_copy)
    extract(repo, trained)
    tune(repo, trained)
    world.mmeops("register", trained)
    bare_version = world.register(bare)  # a package with no dataset behind it
    world.mmeops("promote", trained, "1", "--to", "sandbox")
    world.mmeops("promote", bare, str(bare_version), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")

    # As an older reconcile wrote it: no feature names in the manifest.
    old = world.manifest("sandbox")
    for entry in old["models"].values():
        entry.pop("feature_names", None)
        entry.pop("feature_count", None)
    write_manifest(world, old)

    # The registry reader may not read datasets/ (least privilege): routes' best-effort read
    # of the dataset schema is refused, and that refusal is the one expected here.
    with middleware.expecting() as refused:
        out = json.loads(world.mmeops("routes", "sandbox", "--format", "json"))
    assert refused.denied and all("schema.json" in d.message for d in refused.denied)
    assert out["endpoint"] == world.env("sandbox").endpoint.name
    routes = {r["model"]: r for r in out["routes"]}
    live = world.manifest("sandbox")["models"]
    assert (
        routes[trained]["target_model"] == live[trained]["target_model"] == f"{trained}/v1.tar.gz"
    )
    # An older manifest has no feature names. The dataset's schema would have them, but
    # `routes` reads the registry side as the registry reader, which may not read datasets/
    # (docs/iam: least privilege): the route says so instead of guessing.
    assert routes[trained]["feature_names"] is None
    assert routes[trained]["source"] == "unknown"
    assert routes[bare] == {
        "model": bare,
        "version": bare_version,
        "target_model": live[bare]["target_model"],
        "feature_names": None,
        "source": "unknown",
        "split": "",  # no canary or shadow (issue 25)
    }

    # A manifest entry that carries feature_names (as reconcile now writes them) is used as is.
    old["models"][bare]["feature_names"] = ["x0", "x1", "x2"]
    write_manifest(world, old)
    with middleware.expecting():
        table = world.mmeops("routes", "sandbox")
    assert f"{bare}  v{bare_version}  TargetModel={live[bare]['target_model']}" in table
    assert "  features (manifest): x0, x1, x2" in table
    assert "  features (unknown): unknown" in table


def test_routes_of_an_environment_never_reconciled_says_what_to_run(stack, repo_copy: Path):
    world = World(repo_copy, isolate(repo_copy, "r"))
    out = world.mmeops("routes", "qa", code=2)
    assert "qa has no routing manifest yet; run `mmeops reconcile qa --apply`" in out
