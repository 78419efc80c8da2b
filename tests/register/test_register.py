"""Register: the challenger is judged on held-out data against the champion, scored on the
same new test set, and only a model that earns it lands in the Model Registry."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xgboost
from click.testing import CliRunner

from helpers import received, subscribed_queue
from mmeops import artifact
from mmeops.aws import for_account, split_s3_uri
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.extract.run import extract
from mmeops.register.evaluate import read_split
from mmeops.sample import read_expected
from mmeops.tune import history
from mmeops.tune.run import tune


def clone_model(root: Path, source: str, name: str, edits: dict[str, str] | None = None) -> None:
    """A copy of a demo model under another name: its own registry group and history."""
    src = root / "models" / source
    dst = root / "models" / name
    shutil.copytree(src, dst)
    text = (dst / "model.yaml").read_text().replace(f"name: {source}", f"name: {name}")
    for old, new in (edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (dst / "model.yaml").write_text(text)


def pin(root: Path, env: str, model: str, version: int) -> None:
    path = root / "environments" / f"{env}.yaml"
    text = path.read_text()
    if "models: {}" in text:
        text = text.replace("models: {}", f"models:\n  {model}: {version}")
    else:
        text = text.rstrip() + f"\n  {model}: {version}\n"
    path.write_text(text)


def training(repo):
    t = repo.settings.training
    return for_account(t.account_id, t.region, t.role_arn)


def run(root: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["--repo", str(root), *args], env=env)


FAST = {"  max_jobs: 12": "  max_jobs: 3", "    num_round: 300": "    num_round: 60"}


@pytest.fixture
def diabetes(stack, repo_copy: Path, request) -> tuple[Path, str]:
    """A fresh regression model (unique name), extracted and tuned on the demo warehouse."""
    name = "reg-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    clone_model(repo_copy, "diabetes-progression", name, FAST)
    repo = load_repo(repo_copy)
    extract(repo, name)
    tune(repo, name)
    return repo_copy, name


def test_package_has_exactly_the_promised_fields(diabetes, tmp_path: Path):
    root, name = diabetes
    outputs, summary = tmp_path / "out", tmp_path / "summary.md"
    result = run(
        root,
        "register",
        name,
        "--report",
        str(tmp_path / "report.md"),
        env={"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.exit_code == 0, result.output
    assert f"registered {name} version 1" in result.output
    assert outputs.read_text() == "version=1\n"

    repo = load_repo(root)
    aws = training(repo)
    record = history.latest(aws, repo.settings.bucket, name)
    arn = f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{name}/1"
    package = aws.call("sagemaker", "describe_model_package", ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    spec = package["InferenceSpecification"]
    container = spec["Containers"][0]
    assert container["ModelDataUrl"] == record.artifact_uri
    assert container["Image"].endswith("sagemaker-xgboost:3.2-0")
    assert spec["SupportedContentTypes"] == ["text/csv"]
    assert spec["SupportedResponseMIMETypes"] == ["text/csv"]
    meta = package["CustomerMetadataProperties"]
    assert meta["tuning_job"] == record.job_name
    assert meta["dataset_sha256"] == record.dataset_sha256
    assert meta["dataset_uri"].endswith(f"datasets/{name}/{record.dataset_run_id}/")
    assert meta["xgboost_version"] == xgboost.__version__
    assert meta["warm_start_type"] in ("NONE", "IdenticalDataAndAlgorithm", "TransferLearning")
    assert set(meta) >= {
        "git_commit",
        "parents",
        "gate_metric",
        "gate_value",
        "sample_uri",
        "artifact_sha256",
        "image_version",
    }

    # The metrics JSON the package points at holds the numbers the command printed.
    stats_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    evaluation = json.loads(aws.get_bytes(*split_s3_uri(stats_uri))[0])
    for metric in ("mae", "rmse", "stdev_error", "r2"):
        value = evaluation["metrics"][metric]
        assert re.search(rf"{metric}\s+{value:.6g}", result.output), metric
    assert meta["gate_value"] == f"{evaluation['metrics']['rmse']:.6g}"

    # The smoke-test sample is feature rows only: one column fewer than the test split.
    sample = aws.get_bytes(*split_s3_uri(meta["sample_uri"]))[0].decode()
    test_bucket, test_key = split_s3_uri(meta["dataset_uri"] + "test.csv")
    test_labels, test_features = read_split(io.BytesIO(aws.get_bytes(test_bucket, test_key)[0]))
    first = sample.splitlines()[0].split(",")
    assert len(first) == test_features.shape[1]
    assert [float(v) for v in first] == pytest.approx(list(test_features[0]))

    # ...and registration stored what the registered artifact answers for it, with the
    # feature names in column order: the smoke test's answer key and the manifest's columns.
    stored = read_expected(aws, meta["sample_uri"])
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    served = artifact.load_booster(aws.get_bytes(*split_s3_uri(url))[0])
    rows = np.array([[float(v) for v in line.split(",")] for line in sample.splitlines()])
    assert stored.predictions == tuple(map(float, served.predict(xgboost.DMatrix(rows))))
    assert len(stored.feature_names) == test_features.shape[1] == len(set(stored.feature_names))

    report = (tmp_path / "report.md").read_text()
    assert report.startswith(f"### ✅ {name} v1 registered")
    assert "xychart-beta" in report and summary.read_text().strip() == report.strip()


def test_first_model_is_judged_by_the_absolute_bound_only(stack, repo_copy: Path):
    name = "reg-bound-only"
    clone_model(repo_copy, "diabetes-progression", name, {**FAST, "  bound: 80": "  bound: 5"})
    repo = load_repo(repo_copy)
    extract(repo, name)
    tune(repo, name)
    result = run(repo_copy, "register", name)
    assert result.exit_code == 3, result.output
    assert "gate failed on rmse, r2: rmse absolute bound:" in result.output
    assert "fails limit 5" in result.output
    assert "champion" not in result.output.split("gate failed", 1)[1]
    groups = training(repo).call("sagemaker", "list_model_packages", ModelPackageGroupName=name)
    assert groups["ModelPackageSummaryList"] == []


def test_better_champion_blocks_a_worse_challenger(diabetes):
    root, name = diabetes
    assert run(root, "register", name).exit_code == 0  # v1: the champion
    pin(root, "prod", name, 1)
    repo = load_repo(root)
    aws = training(repo)
    good = history.latest(aws, repo.settings.bucket, name)

    # A challenger that looks fine in isolation (RMSE under the bound of 80) but is clearly
    # worse than v1 on the same test set: a two-round booster.
    bucket = repo.settings.bucket
    prefix = f"datasets/{name}/{good.dataset_run_id}"
    labels, features = read_split(io.BytesIO(aws.get_bytes(bucket, f"{prefix}/train.csv")[0]))
    weak = xgboost.train({"max_depth": 1, "eta": 0.3}, xgboost.DMatrix(features, labels), 2)
    key = f"tuning/{name}/weak/model.tar.gz"
    aws.put_bytes(bucket, key, artifact.pack(weak))
    history.append(
        aws,
        bucket,
        history.TuningRecord(
            **{**good.__dict__, "job_name": "weak", "artifact_uri": f"s3://{bucket}/{key}"}
        ),
    )

    result = run(root, "register", name, "--tuning-job", "weak")
    assert result.exit_code == 3, result.output
    assert "rmse versus champion v1" in result.output
    assert "rmse absolute bound" not in result.output.split("gate failed", 1)[1]
    packages = aws.call("sagemaker", "list_model_packages", ModelPackageGroupName=name)
    assert len(packages["ModelPackageSummaryList"]) == 1
    rows = [
        json.loads(line)
        for line in aws.get_bytes(bucket, f"evaluations/{name}/history.jsonl")[0]
        .decode()
        .splitlines()
    ]
    assert [r["gate_passed"] for r in rows] == [True, False]
    assert rows[1]["champion_version"] == 1 and rows[1]["champion_rmse"] < rows[1]["rmse"]


def test_notifications_arrive_on_a_subscribed_queue(diabetes):
    root, name = diabetes
    repo = load_repo(root)
    aws = training(repo)
    topic, queue_url = subscribed_queue(aws, name)
    settings = root / "mmeops.yaml"
    settings.write_text(settings.read_text() + f"sns_topic_arn: {topic}\n")

    assert run(root, "register", name).exit_code == 0
    events = received(aws, queue_url)
    assert [e["event"] for e in events] == ["registered"]
    assert events[0]["model"] == name and events[0]["version"] == 1


def test_unknown_tuning_job_is_bad_input(diabetes):
    root, name = diabetes
    result = run(root, "register", name, "--tuning-job", "nope")
    assert result.exit_code == 2
    assert "tuning job nope not found" in result.output


@pytest.mark.parametrize("source", ["diabetes-progression", "breast-cancer"])
def test_retrain_registers_v1_then_a_warm_started_v2(stack, repo_copy: Path, source: str):
    name = f"rt-{source}"
    clone_model(repo_copy, source, name, {"  max_jobs: 12": "  max_jobs: 3"})
    first = run(repo_copy, "retrain", name, "--end", "2025-09-01")
    assert first.exit_code == 0, first.output
    assert "cold start" in first.output
    assert f"registered {name} version 1" in first.output
    # A later window: more rows, so a changed dataset warm-starts with TransferLearning.
    second = run(repo_copy, "retrain", name)
    assert second.exit_code == 0, second.output
    assert "TransferLearning" in second.output
    assert f"registered {name} version 2" in second.output
    repo = load_repo(repo_copy)
    package = training(repo).call(
        "sagemaker",
        "describe_model_package",
        ModelPackageName=f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{name}/2",
    )
    meta = package["CustomerMetadataProperties"]
    assert meta["warm_start_type"] == "TransferLearning"
    first_job = history.read(training(repo), repo.settings.bucket, name)[0].job_name
    assert meta["parents"] == first_job


def test_a_version_warm_started_from_two_parents_registers(diabetes):
    """CustomerMetadataProperties values must match `([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)`
    (botocore shape CustomerMetadataValue), which the strict embedded stack enforces as AWS
    does: no commas. The third tuning job of a model has two parents."""
    root, name = diabetes
    repo = load_repo(root)
    tune(repo, name)  # the fixture tuned once: this one has one parent ...
    third = tune(repo, name).record  # ... and this one two
    assert len(third.parents) == 2
    result = run(root, "register", name, "--tuning-job", third.job_name)
    assert result.exit_code == 0, result.output
    package = training(repo).call(
        "sagemaker",
        "describe_model_package",
        ModelPackageName=f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{name}/1",
    )
    assert package["CustomerMetadataProperties"]["parents"].split() == third.parents
