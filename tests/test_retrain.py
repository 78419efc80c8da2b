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
