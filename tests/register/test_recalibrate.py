"""`mmeops retrain --recalibrate`: one training job with the hyperparameters of the version
the champion environment serves, no search; the report names the kind of change."""

from __future__ import annotations

from pathlib import Path

from test_register import diabetes as diabetes_model  # noqa: F401 (a fixture)
from test_register import pin, run, training

from mmeops.config.repo import load_repo
from mmeops.register.report import render
from mmeops.register.run import register
from mmeops.tune import history


def test_recalibrate_trains_once_with_the_champions_hyperparameters(
    diabetes_model,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
):
    root, name = diabetes_model
    repo = load_repo(root)
    champion = register(repo, name)
    assert champion.version == 1, champion.verdict.summary()
    assert "**Kind: retuned**" in render(champion, 80, [])  # a search, the default

    # No version in prod yet: nothing approved to recalibrate with, bad input.
    refused = run(root, "retrain", name, "--backend", "local", "--recalibrate")
    assert refused.exit_code == 2, refused.output
    assert "environments/prod.yaml" in refused.output and "without --recalibrate" in refused.output

    pin(root, "prod", name, 1)
    report = tmp_path / "report.md"
    result = run(
        root, "retrain", name, "--backend", "local", "--recalibrate", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert "recalibration: prod's v1 hyperparameters" in result.output

    aws = training(load_repo(root))
    records = history.read(aws, load_repo(root).settings.bucket, name)
    new = records[-1]
    assert new.n_training_jobs == 1 and new.warm_start_type == "RECALIBRATE"
    assert new.parents == [champion.tuning_job]
    assert new.best_hyperparameters == champion.record.best_hyperparameters
    assert new.dataset_run_id != champion.record.dataset_run_id  # today's data
    assert "**Kind: recalibrated**" in report.read_text()


def test_recalibrate_on_sagemaker_is_one_training_job_with_the_champions_hyperparameters(
    diabetes_model,  # noqa: F811 (the fixture imported above)
):
    """The production path: CreateTrainingJob (the embedded stack trains it as the built-in
    algorithm does) with the champion's tuned hyperparameters fixed, no tuning job."""
    root, name = diabetes_model
    champion = register(load_repo(root), name)
    assert champion.version == 1, champion.verdict.summary()
    pin(root, "prod", name, 1)

    result = run(root, "retrain", name, "--backend", "sagemaker", "--recalibrate")
    assert result.exit_code == 0, result.output
    assert f"registered {name} version 2" in result.output

    aws = training(load_repo(root))
    new = history.read(aws, load_repo(root).settings.bucket, name)[-1]
    assert (new.backend, new.n_training_jobs, new.warm_start_type) == (
        "sagemaker",
        1,
        "RECALIBRATE",
    )
    assert new.best_hyperparameters == champion.record.best_hyperparameters
    assert new.xgboost_version == "3.2" and new.best_value == new.trials[0]["value"]
    job = aws.call("sagemaker", "describe_training_job", TrainingJobName=new.job_name)
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == new.artifact_uri
    for key, value in champion.record.best_hyperparameters.items():
        assert job["HyperParameters"][key] == str(value)
    assert job["HyperParameters"]["eval_metric"] == "rmse"  # stops on the tuning metric
