"""The sagemaker backend against tuning jobs the embedded stack really runs: what the product
records when a job is stopped, fails, loses a training job, or outlives the runner that
started it. Faults come from the stack (mmeops.stack.training_faults), as AWS would produce
them; DescribeHyperParameterTuningJob's states are botocore's HyperParameterTuningJobStatus."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import secrets
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from crashing import run_cli_crashing
from mmeops.aws import for_account
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.extract.run import extract
from mmeops.stack.training_faults import training_faults
from mmeops.tune import history
from mmeops.tune.run import TuningFailed, tune

FORKS = multiprocessing.get_context("forkserver")


@pytest.fixture
def model(stack, repo_copy: Path) -> tuple[Path, str]:
    """A fresh copy of the diabetes model (small), with one dataset."""
    name = f"sm-{secrets.token_hex(3)}"
    shutil.copytree(repo_copy / "models" / "diabetes-progression", repo_copy / "models" / name)
    path = repo_copy / "models" / name / "model.yaml"
    text = path.read_text().replace("name: diabetes-progression", f"name: {name}")
    path.write_text(text.replace("num_round: 300", "num_round: 30"))
    extract(load_repo(repo_copy), name, end=dt.date(2025, 10, 1))
    return repo_copy, name


def records(root: Path, name: str) -> list[history.TuningRecord]:
    repo = load_repo(root)
    t = repo.settings.training
    return history.read(for_account(t.account_id, t.region, t.role_arn), repo.settings.bucket, name)


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_a_stopped_job_with_a_best_training_job_is_a_result_and_a_parent(model):
    """AWS: a stopped tuning job keeps the training jobs that completed, reports the best of
    them, and may be a warm-start parent (API_HyperParameterTuningJobWarmStartConfig)."""
    root, name = model
    repo = load_repo(root)
    with training_faults(stop_tuning_after=2):
        stopped = tune(repo, name, backend="sagemaker", max_jobs=4).record
    assert stopped.status == "Stopped" and stopped.artifact_uri and stopped.best_value
    assert len(stopped.trials) >= 2
    child = tune(repo, name, backend="sagemaker", max_jobs=2).record
    assert child.parents == [stopped.job_name]
    result = CliRunner().invoke(main, ["--repo", str(root), "register", name])
    assert result.exit_code == 0, result.output


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_a_failed_training_job_does_not_fail_the_tuning_job(model):
    root, name = model
    with training_faults(fail_training_jobs={1}) as injected:
        record = tune(load_repo(root), name, backend="sagemaker", max_jobs=3).record
    assert injected.events and record.status == "Completed"
    assert len(record.trials) == 2  # only the training jobs that reported the objective


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_a_failed_tuning_job_is_recorded_with_sagemakers_reason_and_nothing_else(model):
    root, name = model
    with training_faults(fail_tuning="InternalServerError: capacity"):
        result = CliRunner().invoke(
            main, ["--repo", str(root), "tune", name, "--backend", "sagemaker", "--max-jobs", "2"]
        )
    assert result.exit_code == 1
    assert "failed: InternalServerError: capacity" in result.output
    [record] = records(root, name)
    assert record.status == "Failed" and record.failure_reason == "InternalServerError: capacity"
    assert record.artifact_uri is None and record.best_value is None and record.trials == []


def die_after_creating_the_job(root: Path, name: str) -> history.TuningRecord:
    """`mmeops tune` in a child process killed (SIGKILL) right before it records the job's end:
    a runner lost, or whose credentials expired, while SageMaker ran the job. Its mutating
    calls are CreateHyperParameterTuningJob, then the InProgress record; the third would be
    the end's record."""
    out = root / "child.log"
    argv = ["--repo", str(root), "tune", name, "--backend", "sagemaker", "--max-jobs", "2"]
    child = FORKS.Process(target=run_cli_crashing, args=(argv, {}, 2, str(out)))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL, out.read_text()
    [started] = records(root, name)
    assert started.status == "InProgress"
    return started


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_a_rerun_picks_up_the_job_its_dead_runner_left_running(model):
    """A re-run with `--resume` (what the tune action passes) waits for the job the dead
    runner created instead of paying for another, and records its end."""
    root, name = model
    started = die_after_creating_the_job(root, name)
    out = CliRunner().invoke(
        main, ["--repo", str(root), "tune", name, "--resume", "--backend", "sagemaker"]
    )
    assert out.exit_code == 0, out.output
    assert f"job: {started.job_name}" in out.output
    [ended] = records(root, name)  # the same job, its record now the end
    assert ended.job_name == started.job_name and ended.status == "Completed"
    assert ended.artifact_uri and ended.xgboost_version == "3.2"


def test_attach_records_a_job_once(model):
    root, name = model
    started = die_after_creating_the_job(root, name)
    attach = ["--repo", str(root), "tune", name, "--attach", started.job_name]
    out = CliRunner().invoke(main, attach)
    assert out.exit_code == 0, out.output
    again = CliRunner().invoke(main, attach)
    assert again.exit_code == 2 and "already ended (Completed)" in again.output


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_a_failed_run_is_not_retried_as_if_it_were_pending(model):
    root, name = model
    with training_faults(fail_tuning="InternalServerError: x"), pytest.raises(TuningFailed):
        tune(load_repo(root), name, backend="sagemaker", max_jobs=2)
    record = tune(load_repo(root), name, backend="sagemaker", max_jobs=2, resume=True).record
    assert record.status == "Completed" and len(records(root, name)) == 2


def with_null_ages(root: Path, name: str) -> None:
    """The model's query NULLs `age` in the rows where `sex` is positive (about half)."""
    query = root / "models" / name / "query.sql"
    nulled = "CASE WHEN sex > 0 THEN NULL ELSE age END AS age, sex,"
    query.write_text(query.read_text().replace("age, sex,", nulled))
    extract(load_repo(root), name, end=dt.date(2025, 10, 1))


def newest_dataset(root: Path, name: str) -> tuple[str, str]:
    repo = load_repo(root)
    t = repo.settings.training
    aws = for_account(t.account_id, t.region, t.role_arn)
    keys = [o.key for o in aws.list_objects(repo.settings.bucket, f"datasets/{name}/")]
    return repo.settings.bucket, max(k for k in keys if k.endswith("/train.csv"))


def test_a_null_feature_trains_on_sagemaker_as_on_the_local_backend(model):
    """Issue 27: every SageMaker training job failed on a NULL feature (the container cannot
    load an empty field of a training CSV; the embedded stack loads channels as it does),
    while the local backend trained. The extract now writes `nan`, which xgboost's own CSV
    parser (the container's file-mode path, DMatrix("...?format=csv&label_column=0") in
    aws/sagemaker-xgboost-container data_utils.py) and numpy read as missing."""
    root, name = model
    with_null_ages(root, name)
    repo = load_repo(root)
    on_sagemaker = tune(repo, name, backend="sagemaker", max_jobs=2).record
    locally = tune(repo, name, backend="local", max_jobs=2).record
    assert on_sagemaker.status == locally.status == "Completed"
    assert on_sagemaker.artifact_uri and locally.artifact_uri
    bucket, key = newest_dataset(root, name)
    t = repo.settings.training
    train = for_account(t.account_id, t.region, t.role_arn).get_bytes(bucket, key)[0]
    assert b",nan," in train and b",," not in train
    # Register scores the artifact on the test split, NULLs included: the gate's metrics are
    # printed. Whether two trials of 30 rounds pass its bound is the search's luck (a flaky
    # r2 0.187 < 0.2 was seen), not what this test is about.
    result = CliRunner().invoke(main, ["--repo", str(root), "register", name])
    assert "mae" in result.output and "Traceback" not in result.output, result.output
    assert result.exit_code == 0 or "gate failed on" in result.output, result.output


@pytest.mark.slow  # a fault scenario (issue 27's slow tier)
def test_failed_trials_say_why_in_the_tuning_error(model):
    """A dataset written before (an empty field for NULL): each training job fails with the
    container's reason, and the error carries it (was only SageMaker's "No training job
    succeeded with an objective metric value")."""
    root, name = model
    with_null_ages(root, name)
    bucket, key = newest_dataset(root, name)
    t = load_repo(root).settings.training
    aws = for_account(t.account_id, t.region, t.role_arn)
    aws.put_bytes(bucket, key, aws.get_bytes(bucket, key)[0].replace(b",nan", b","))
    result = CliRunner().invoke(
        main, ["--repo", str(root), "tune", name, "--backend", "sagemaker", "--max-jobs", "2"]
    )
    assert result.exit_code == 1
    assert "No training job succeeded" in result.output
    assert "its training jobs failed: ClientError: Failed to load csv data" in result.output
    assert "(2 jobs)" in result.output
