"""Guarantee 7: a model trained with an xgboost that its serving image does not run is refused
before anything is written: at register (exit 2 naming model.yaml's image_version line) and at
plan and apply (exit 2 naming the environment file's line of that model).

A model saved by one xgboost release line loads in another without error and predicts
different numbers (docs: FACTS.md), so this is the only place the mismatch can be caught.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import xgboost
from test_reconcile import SHA, Calls, World, add_model, isolate

from helpers import line_of
from mmeops import aws
from mmeops.artifact import pack
from mmeops.tune import history

# The slow tier (make test-slow; CI runs it):
# fault scenarios: an older mmeops and a newer one against the same state.
pytestmark = pytest.mark.slow

TRAINED_ELSEWHERE = "1.7.6"  # a runner with an old xgboost-cpu, image 3.2-0 serves 3.2


@pytest.fixture
def world(stack, repo_copy: Path, monkeypatch) -> World:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    return World(repo_copy, isolate(repo_copy, "v"))


def tuned_with(world: World, model: str, xgboost_version: str) -> str:
    """A completed tuning job in the model's history, as `mmeops tune` on a runner with
    `xgboost_version` would have left it: a real one-file artifact and its record."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(x, label=x[:, 0]), 3)
    job = f"{model}-{uuid.uuid4().hex[:6]}"
    bucket = world.repo.settings.bucket
    world.training.put_bytes(bucket, f"tuning/{model}/{job}/model.tar.gz", pack(booster))
    record = history.TuningRecord(
        time="2026-11-01T00:00:00Z",
        job_name=job,
        model=model,
        prefix=f"tuning/{model}/{job}/",
        objective="reg:squarederror",
        eval_metric="validation:rmse",
        best_value=1.0,
        n_training_jobs=3,
        dataset_run_id="20261101T000000Z-abcdef",
        dataset_sha256="0" * 64,
        backend="local",
        testing=False,
        status=history.COMPLETED,
        ranges={},
        static_hyperparameters={"objective": "reg:squarederror"},
        artifact_uri=f"s3://{bucket}/tuning/{model}/{job}/model.tar.gz",
        xgboost_version=xgboost_version,
        image_version="3.2-0",
    )
    history.append(world.training, bucket, record)
    return job


def no_package(world: World, model: str) -> bool:
    try:
        found = world.training.call(
            "sagemaker", "list_model_packages", ModelPackageGroupName=model
        )["ModelPackageSummaryList"]
    except aws.NotFound:
        return True
    return not found


def restamp(world: World, model: str, version: int, why: str, **metadata: str) -> None:
    """Record in the registry that a package was trained with xgboost TRAINED_ELSEWHERE
    (and whatever else `metadata` says), as if an older runner had registered it."""
    pkg = world.package(model, version)
    # An older runner's registration, rewritten as the stack's admin: no role may (IAM).
    world.admin(world.repo.settings.training.account_id).call(
        "sagemaker",
        "update_model_package",
        ModelPackageArn=pkg["ModelPackageArn"],
        ModelApprovalStatus=pkg["ModelApprovalStatus"],
        ApprovalDescription=why,
        CustomerMetadataProperties={
            **pkg["CustomerMetadataProperties"],
            "xgboost_version": TRAINED_ELSEWHERE,
            **metadata,
        },
    )


def test_register_refuses_an_artifact_trained_for_another_image(world: World) -> None:
    m = f"s{world.uid}-r"
    add_model(world, m)
    model_yaml = world.root / "models" / m / "model.yaml"
    image_line = line_of(model_yaml, "image_version:")

    job = tuned_with(world, m, TRAINED_ELSEWHERE)
    with Calls() as calls:
        out = world.mmeops("register", m, code=2)
    assert f"models/{m}/model.yaml:{image_line}: tuning job {job}" in out
    assert f"xgboost {TRAINED_ELSEWHERE} but image 3.2-0 serves xgboost 3.2" in out
    assert calls.mutating() == [] and no_package(world, m)

    # The other way round: today's library, but model.yaml moved to the 1.7 image.
    tuned_with(world, m, xgboost.__version__)
    model_yaml.write_text(model_yaml.read_text().replace('"3.2-0"', '"1.7-1"'))
    out = world.mmeops("register", m, code=2)
    assert (
        f"models/{m}/model.yaml:{image_line}: " in out and "image 1.7-1 serves xgboost 1.7" in out
    )
    assert no_package(world, m)


def test_plan_and_apply_refuse_a_package_trained_for_another_image(world: World) -> None:
    ok, skewed = f"s{world.uid}-a", f"s{world.uid}-b"
    for m in (ok, skewed):
        add_model(world, m)
    v_ok, v_skewed = world.register(ok), world.register(skewed)
    # The skewed package was registered by a runner with an old xgboost (register records it).
    restamp(world, skewed, v_skewed, "registered by an older runner")
    world.mmeops("promote", ok, str(v_ok), "--to", "sandbox")
    world.mmeops("promote", skewed, str(v_skewed), "--to", "sandbox")
    env_file = world.root / "environments" / "sandbox.yaml"
    line = line_of(env_file, f"{skewed}:")

    expected = (
        f"environments/sandbox.yaml:{line}: {skewed} v{v_skewed} was trained with xgboost "
        f"{TRAINED_ELSEWHERE} but this environment's endpoint serves image 3.2-0 (xgboost 3.2)"
    )
    with Calls() as calls:
        assert expected in world.mmeops("reconcile", "sandbox", "--plan", code=2)
        assert expected in world.mmeops("reconcile", "sandbox", "--apply", code=2)
    assert calls.mutating() == []  # not even the lease
    e = world.env("sandbox")
    assert not world.env_aws("sandbox").list_objects(e.artifact_bucket, e.artifact_key_prefix)

    # Pinning a package trained for the image is the fix.
    env_file.write_text("\n".join(t for t in env_file.read_text().splitlines() if skewed not in t))
    world.mmeops("reconcile", "sandbox", "--apply")
    assert world.manifest("sandbox")["models"][ok]["version"] == v_ok


def test_the_image_the_live_endpoint_runs_decides_not_the_files(world: World) -> None:
    """The endpoint was created for xgboost 3.2; a model whose model.yaml moved to the 1.7
    image, trained with 1.7, matches its own file but not what would load it: refused."""
    first, old = f"s{world.uid}-c", f"s{world.uid}-d"
    for m in (first, old):
        add_model(world, m)
    world.mmeops("promote", first, str(world.register(first)), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")  # the endpoint runs image 3.2-0

    model_yaml = world.root / "models" / old / "model.yaml"
    model_yaml.write_text(model_yaml.read_text().replace('"3.2-0"', '"1.7-1"'))
    v = world.register(old)
    restamp(world, old, v, "trained for the 1.7 image", image_version="1.7-1")
    env_file = world.root / "environments" / "sandbox.yaml"
    env_file.write_text(env_file.read_text().replace(f"  {first}:", f"  {old}: {v}\n  #{first}:"))
    out = world.mmeops("reconcile", "sandbox", "--plan", code=2)
    assert (
        f"environments/sandbox.yaml:{line_of(env_file, f'{old}:')}: {old} v{v} was trained "
        f"with xgboost {TRAINED_ELSEWHERE} but this environment's endpoint serves image 3.2-0"
    ) in out
