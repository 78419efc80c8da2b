"""The tune stage against the embedded stack: history, warm starts, both backends, the artifact.

Each test tunes its own copy of a demo model (a fresh name), so the tuning histories of tests
sharing the session's stack never mix.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import shutil
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xgboost
from click.testing import CliRunner

from helpers import line_of
from mmeops import artifact
from mmeops.aws import add_call_listener, for_account, split_s3_uri
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.extract.run import extract
from mmeops.images import xgboost_image
from mmeops.tune import history
from mmeops.tune import local as tune_local
from mmeops.tune.run import tune
from mmeops.tune.warmstart import IDENTICAL, TRANSFER


def new_model(root: Path, base: str = "diabetes-progression") -> str:
    """A copy of a demo model under a fresh name, small enough to tune in a second."""
    name = f"tune-{secrets.token_hex(3)}"
    shutil.copytree(root / "models" / base, root / "models" / name)
    path = root / "models" / name / "model.yaml"
    text = path.read_text().replace(f"name: {base}", f"name: {name}")
    text = text.replace("num_round: 300", "num_round: 40").replace(
        "num_round: 200", "num_round: 40"
    )
    path.write_text(text.replace("early_stopping_rounds: 20", "early_stopping_rounds: 5"))
    return name


def training_aws(repo):
    t = repo.settings.training
    return for_account(t.account_id, t.region, t.role_arn)


@pytest.fixture
def setup(stack, repo_copy):
    """(repo root, model name, dataset run id) for a fresh copy of the diabetes model,
    extracted from the demo warehouse up to 2025-10-01 (later rows make a newer dataset)."""
    model = new_model(repo_copy)
    run_id = extract(load_repo(repo_copy), model, end=dt.date(2025, 10, 1)).run_id
    return repo_copy, model, run_id


def read_history(root: Path, model: str) -> list[history.TuningRecord]:
    repo = load_repo(root)
    return history.read(training_aws(repo), repo.settings.bucket, model)


def test_local_tuning_writes_history_and_a_servable_artifact(setup):
    root, model, run_id = setup
    repo = load_repo(root)
    seen = []
    result = tune(repo, model, dataset=run_id, max_jobs=3, progress=seen.append)

    record = result.record
    assert result.warm_start.cold
    assert result.warm_start.reason == f"cold start: no earlier tuning job of {model}"
    assert [p.completed for p in seen] == [1, 2, 3]
    assert read_history(root, model) == [record]
    assert record.status == "Completed" and record.backend == "local" and not record.testing
    assert record.n_training_jobs == 3 and len(record.trials) == 3
    assert record.best_value == min(t["value"] for t in record.trials)
    assert record.xgboost_version == xgboost.__version__ and record.image_version == "3.2-0"
    assert set(record.ranges) == {"eta", "max_depth", "min_child_weight", "subsample", "lambda"}
    assert record.static_hyperparameters["num_round"] == 40

    aws = training_aws(repo)
    tarball, _ = aws.get_bytes(*split_s3_uri(record.artifact_uri))
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        assert tar.getnames() == ["xgboost-model"]
    valid_x, valid_y = tune_local.load_csv(
        aws.get_bytes(repo.settings.bucket, f"datasets/{model}/{run_id}/validation.csv")[0]
    )
    test_x, _ = tune_local.load_csv(
        aws.get_bytes(repo.settings.bucket, f"datasets/{model}/{run_id}/test.csv")[0]
    )
    booster = artifact.load_booster(tarball)
    # The validation RMSE of the artifact is the value the job reported.
    rmse = float(np.sqrt(np.mean((booster.predict(xgboost.DMatrix(valid_x)) - valid_y) ** 2)))
    assert rmse == pytest.approx(record.best_value, rel=1e-5)
    # Loaded the container's way (a file named xgboost-model), it predicts the same numbers.
    container = xgboost.Booster()
    path = root / "xgboost-model"
    path.write_bytes(artifact.model_bytes(tarball))
    container.load_model(str(path))
    held_out = xgboost.DMatrix(test_x)
    assert np.array_equal(container.predict(held_out), booster.predict(held_out))


def test_second_run_warm_starts_from_the_first_and_new_data_transfers(setup):
    root, model, run_id = setup
    repo = load_repo(root)
    first = tune(repo, model, dataset=run_id, max_jobs=3).record

    again = tune(repo, model, dataset=run_id, max_jobs=3)
    assert again.warm_start.type == IDENTICAL
    assert again.record.parents == [first.job_name]
    assert again.record.warm_start_type == IDENTICAL
    assert again.n_prior_trials == 3
    # The parent's best is evaluated first, on the same data: the same score.
    assert again.record.trials[0]["hyperparameters"] == pytest.approx(first.best_hyperparameters)
    assert again.record.trials[0]["value"] == pytest.approx(first.best_value)
    assert again.record.best_value <= first.best_value

    # New rows in the warehouse: a newer dataset. (Named explicitly: two run ids made within
    # the same second do not sort by time.)
    newer = extract(repo, model, end=dt.date(2026, 1, 1))
    transfer = tune(repo, model, max_jobs=2, dataset=newer.run_id)
    assert transfer.warm_start.type == TRANSFER
    assert transfer.record.parents == [again.record.job_name, first.job_name]
    assert transfer.n_prior_trials == 6
    assert transfer.record.dataset_sha256 != first.dataset_sha256


def test_testing_run_is_one_trial_and_never_a_parent(setup):
    root, model, run_id = setup
    runner = CliRunner()
    out = runner.invoke(
        main,
        ["--repo", str(root), "tune", model, "--dataset", run_id, "--testing", "--max-jobs", "5"],
    )
    assert out.exit_code == 0, out.output
    assert "trials: 1" in out.output
    [record] = read_history(root, model)
    assert record.testing and record.n_training_jobs == 1 and len(record.trials) == 1

    out = runner.invoke(
        main, ["--repo", str(root), "tune", model, "--dataset", run_id, "--max-jobs", "2"]
    )
    assert out.exit_code == 0, out.output
    assert (
        f"cold start: none of 1 earlier tuning jobs is eligible (newest, {record.job_name}: "
        "a testing run" in out.output
    )
    assert read_history(root, model)[-1].parents == []


def test_cli_prints_the_job_and_writes_the_step_summary(setup, tmp_path, monkeypatch):
    root, model, run_id = setup
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = CliRunner().invoke(
        main, ["--repo", str(root), "tune", model, "--dataset", run_id, "--max-jobs", "2"]
    )
    assert out.exit_code == 0, out.output
    [record] = read_history(root, model)
    assert f"job: {record.job_name} (local)" in out.output
    assert f"artifact: {record.artifact_uri}" in out.output
    assert f"best validation:rmse: {record.best_value:.6g}" in out.output
    text = summary.read_text()
    assert text.startswith(f"### Tuned {model}: validation:rmse = ")
    assert record.artifact_uri in text


def test_binary_model_minimizes_logloss(stack, repo_copy):
    model = new_model(repo_copy, base="breast-cancer")
    repo = load_repo(repo_copy)
    extract(repo, model)
    record = tune(repo, model, max_jobs=2).record
    assert record.eval_metric == "validation:logloss"
    assert record.best_value == min(t["value"] for t in record.trials) < 0.3


def test_version_skew_is_refused_before_anything_runs(setup):
    root, model, run_id = setup
    path = root / "models" / model / "model.yaml"
    path.write_text(path.read_text().replace('image_version: "3.2-0"', 'image_version: "1.7-1"'))
    line = line_of(path, "image_version")
    out = CliRunner().invoke(main, ["--repo", str(root), "tune", model, "--dataset", run_id])
    assert out.exit_code == 2
    assert (
        f"models/{model}/model.yaml:{line}: xgboost.image_version 1.7-1 serves xgboost "
        f"1.7, but this machine trains with xgboost {xgboost.__version__}" in out.output
    )
    assert 'image_version: "3.2-0"' in out.output
    assert read_history(root, model) == []


def test_missing_dataset_is_a_user_error(setup):
    root, model, _ = setup
    out = CliRunner().invoke(main, ["--repo", str(root), "tune", model, "--dataset", "nope"])
    assert out.exit_code == 2
    assert f"dataset nope of {model} not found" in out.output


def test_sagemaker_backend_sends_a_valid_warm_started_request(setup):
    """The request is what the SageMaker Python SDK 2.x sends underneath, warm-started from a
    real earlier tuning job that the strict embedded stack trained (AWS refuses parents that
    exist only in a history file); the record holds only what the job produced."""
    root, model, run_id = setup
    repo = load_repo(root)
    aws = training_aws(repo)
    parent = tune(repo, model, dataset=run_id, backend="sagemaker", max_jobs=2).record

    sent = []
    # Listeners see the request as serialized after botocore validated it: the JSON body.
    remove = add_call_listener(
        lambda service, op, request: (
            sent.append(json.loads(request["body"]))
            if op == "CreateHyperParameterTuningJob"
            else None
        )
    )
    try:
        result = tune(repo, model, dataset=run_id, backend="sagemaker", max_jobs=4)
    finally:
        remove()

    [request] = sent
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize",
        "MetricName": "validation:rmse",
    }
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 4,
        "MaxParallelTrainingJobs": 2,
        "MaxRuntimeInSeconds": 6 * 3600,  # tuning.max_runtime_seconds' default (issue 27)
    }
    ranges = config["ParameterRanges"]
    assert {
        "Name": "eta",
        "MinValue": "0.01",
        "MaxValue": "0.3",
        "ScalingType": "Logarithmic",
    } in ranges["ContinuousParameterRanges"]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "6", "ScalingType": "Auto"}
    ]
    definition = request["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"] == {
        "objective": "reg:squarederror",
        "num_round": "40",
        "early_stopping_rounds": "5",
    }
    assert (
        definition["AlgorithmSpecification"]["TrainingImage"]
        == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    )
    assert definition["RoleArn"] == repo.settings.training.execution_role_arn
    # model.yaml's defaults: the SDK's 30 GB volume and AWS's one-day runtime limit.
    assert definition["ResourceConfig"]["VolumeSizeInGB"] == 30
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    prefix = f"s3://{repo.settings.bucket}/datasets/{model}/{run_id}/"
    assert [
        (c["ChannelName"], c["ContentType"], c["DataSource"]["S3DataSource"]["S3Uri"])
        for c in definition["InputDataConfig"]
    ] == [
        ("train", "text/csv", prefix + "train.csv"),
        ("validation", "text/csv", prefix + "validation.csv"),
    ]
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent.job_name}],
        "WarmStartType": IDENTICAL,
    }

    record = result.record
    assert read_history(root, model) == [parent, record]
    assert record.backend == "sagemaker" and record.status == "Completed"
    assert record.parents == [parent.job_name] and record.warm_start_type == IDENTICAL
    assert record.xgboost_version == "3.2" and len(record.trials) == 4
    # The artifact is where the best training job wrote it, as DescribeTrainingJob says; after
    # an identical-data warm start the best may be the parent's own job.
    described = aws.call(
        "sagemaker",
        "describe_hyper_parameter_tuning_job",
        HyperParameterTuningJobName=record.job_name,
    )
    best = described.get("OverallBestTrainingJob") or described["BestTrainingJob"]
    job = aws.call("sagemaker", "describe_training_job", TrainingJobName=best["TrainingJobName"])
    assert record.artifact_uri == job["ModelArtifacts"]["S3ModelArtifacts"]
    booster = artifact.load_booster(aws.get_bytes(*split_s3_uri(record.artifact_uri))[0])
    assert booster.num_boosted_rounds() >= 1


def test_concurrent_appends_keep_every_record(setup):
    root, model, run_id = setup
    repo = load_repo(root)
    aws = training_aws(repo)
    template = history.TuningRecord(
        time="2026-11-01T03:00:00Z",
        job_name="x",
        model=model,
        prefix=model,
        objective="o",
        eval_metric="validation:rmse",
        best_value=1.0,
        n_training_jobs=2,
        dataset_run_id=run_id,
        dataset_sha256="s",
        backend="local",
        testing=False,
        status="Completed",
        ranges={},
        static_hyperparameters={},
    )

    def writer(i: int) -> None:
        for j in range(3):
            history.append(aws, repo.settings.bucket, replace(template, job_name=f"job-{i}-{j}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(r.job_name for r in read_history(root, model))
    assert names == sorted(f"job-{i}-{j}" for i in range(4) for j in range(3))


def test_a_warm_started_sagemaker_request_is_accepted_by_the_strict_stack(setup):
    """WarmStartType is `IdenticalDataAndAlgorithm` | `TransferLearning` on the wire (botocore
    shape HyperParameterTuningJobWarmStartType; the SageMaker Python SDK 2.x sends these). The
    strict embedded stack refuses anything else, as AWS does server-side."""
    from mmeops.tune import tuning_job as tune_sagemaker
    from mmeops.tune.warmstart import IDENTICAL

    root, model, run_id = setup
    repo = load_repo(root)
    cfg, aws = repo.model(model), training_aws(repo)
    prefix = f"s3://{repo.settings.bucket}/datasets/{model}/{run_id}/"

    def request(name: str, parents: list[str]) -> dict:
        return tune_sagemaker.build_request(
            job_name=name,
            image=xgboost_image(aws.region, cfg.xgboost.image_version),
            role_arn=repo.settings.training.execution_role_arn,
            instance_type=cfg.training_instance_type,
            objective_metric=cfg.tuning.objective_metric,
            direction=cfg.tuning.direction,
            max_jobs=2,
            max_parallel_jobs=1,
            ranges={k: v.model_dump(exclude_none=True) for k, v in cfg.tuning.ranges.items()},
            static=dict(cfg.xgboost.static_hyperparameters),
            train_uri=prefix + "train.csv",
            validation_uri=prefix + "validation.csv",
            output_path=f"s3://{repo.settings.bucket}/tuning/{model}/{name}/output/",
            parents=parents,
            warm_start_type=IDENTICAL if parents else None,
        )

    parent, child = f"{model}-p", f"{model}-c"
    tune_sagemaker.create(aws, request(parent, []))
    tune_sagemaker.wait(aws, parent, deadline=300)  # AWS wants a terminal parent
    tune_sagemaker.create(aws, request(child, [parent]))  # refused before the fix
    described = aws.call(
        "sagemaker", "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=child
    )
    assert described["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"


def test_the_job_summary_warns_when_every_trial_tied_at_a_saturated_metric():
    """A tuning run whose trials all tie at AUC 1.0 chose nothing (issue 17): the GitHub job
    summary says so in its heading, not under a plain one."""
    from test_warmstart import job

    from mmeops.tune.run import TuneResult, summary_markdown
    from mmeops.tune.warmstart import WarmStart

    record = job(
        "m-1", 28, model="m", objective="binary:logistic", eval_metric="validation:auc",
        best_value=1.0, n_training_jobs=3, trials=[{"hyperparameters": {}, "value": 1.0}] * 3,
    )  # fmt: skip
    cold = WarmStart(None, (), "cold start: no earlier tuning job of m")
    tied = summary_markdown(TuneResult(record, cold))
    assert tied.startswith("### ⚠️ Tuned m: validation:auc = 1")
    assert "all 3 trials tie at validation:auc = 1" in tied
    fine = replace(record, trials=[{"hyperparameters": {}, "value": v} for v in (0.9, 1.0)])
    assert summary_markdown(TuneResult(fine, cold)).startswith("### Tuned m:")
