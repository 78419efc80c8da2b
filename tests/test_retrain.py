"""`mmeops retrain`: a refusal known before any data moves comes before the extract uploads
anything ("nothing changed" must be true when it says so)."""

from __future__ import annotations

import secrets
import shutil

from click.testing import CliRunner

from mmeops.aws import for_account
from mmeops.cli import main
from mmeops.config.repo import load_repo


def test_a_tune_that_would_refuse_stops_the_retrain_before_the_extract(stack, repo_copy):
    # Image 3.0-5 serves xgboost 3.0; this machine trains with 3.2, so the local backend must
    # refuse (the container would predict other numbers without an error).
    name = f"pre-{secrets.token_hex(3)}"
    shutil.copytree(repo_copy / "models" / "diabetes-progression", repo_copy / "models" / name)
    path = repo_copy / "models" / name / "model.yaml"
    text = path.read_text().replace("name: diabetes-progression", f"name: {name}")
    path.write_text(text.replace('image_version: "3.2-0"', 'image_version: "3.0-5"'))

    result = CliRunner().invoke(
        main, ["--repo", str(repo_copy), "retrain", name, "--backend", "local"]
    )
    assert result.exit_code == 2, result.output
    assert "image_version 3.0-5 serves xgboost 3.0" in result.output

    repo = load_repo(repo_copy)
    t = repo.settings.training
    training = for_account(t.account_id, t.region, t.role_arn)
    assert training.list_objects(repo.settings.bucket, f"datasets/{name}/") == []


def test_a_recalibration_with_nothing_to_recalibrate_stops_before_the_extract(stack, repo_copy):
    # prod pins no version of a new model: there are no approved hyperparameters to reuse.
    name = f"rec-{secrets.token_hex(3)}"
    shutil.copytree(repo_copy / "models" / "diabetes-progression", repo_copy / "models" / name)
    path = repo_copy / "models" / name / "model.yaml"
    path.write_text(path.read_text().replace("name: diabetes-progression", f"name: {name}"))

    result = CliRunner().invoke(
        main, ["--repo", str(repo_copy), "retrain", name, "--recalibrate", "--backend", "local"]
    )
    assert result.exit_code == 2, result.output
    assert "no approved hyperparameters" in result.output or "pins no version" in result.output

    repo = load_repo(repo_copy)
    t = repo.settings.training
    training = for_account(t.account_id, t.region, t.role_arn)
    assert training.list_objects(repo.settings.bucket, f"datasets/{name}/") == []


def test_a_parent_with_other_static_hyperparameters_is_dropped_before_the_extract(stack, repo_copy):
    """AWS refuses a warm-start parent whose static plus tunable hyperparameter names differ
    from today's ("must be the same as in the parent", FACTS): retrain decides the parents
    in its preflight and says why it starts cold before the extract uploads anything. The
    extract here finds no rows (a window in 2099), so anything the run says came first."""
    import datetime as dt

    from mmeops.extract.run import extract
    from mmeops.tune.run import tune

    name = f"ws-{secrets.token_hex(3)}"
    shutil.copytree(repo_copy / "models" / "diabetes-progression", repo_copy / "models" / name)
    path = repo_copy / "models" / name / "model.yaml"
    text = path.read_text().replace("name: diabetes-progression", f"name: {name}")
    path.write_text(text.replace("num_round: 300", "num_round: 20"))
    extract(load_repo(repo_copy), name, end=dt.date(2025, 10, 1))
    parent = tune(load_repo(repo_copy), name, backend="sagemaker", max_jobs=2).record
    path.write_text(
        path.read_text().replace("num_round: 20", "num_round: 20\n    max_delta_step: 1")
    )
    repo = load_repo(repo_copy)
    t = repo.settings.training
    training = for_account(t.account_id, t.region, t.role_arn)
    before = training.list_objects(repo.settings.bucket, f"datasets/{name}/")

    argv = ["--repo", str(repo_copy), "retrain", name, "--backend", "sagemaker",
            "--start", "2099-01-01", "--end", "2099-02-01"]  # fmt: skip
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    plan, refusal = result.output.index("plan:"), result.output.index("no rows")
    assert plan < refusal
    assert (
        f"cold start: none of 1 earlier tuning jobs is eligible (newest, {parent.job_name}: "
        "static hyperparameters differ (added max_delta_step))" in result.output
    )
    assert training.list_objects(repo.settings.bucket, f"datasets/{name}/") == before
