"""The production path end to end, as the scheduled workflow runs it, on the strict embedded
stack: extract → SageMaker tuning job (really trained by the stack) → register → retrain
again, warm-started → promote → reconcile → invoke. Every request the product sends is checked
against botocore's service model on the way (stack/strict.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from helpers import isolate
from mmeops.artifact import load_booster
from mmeops.aws import for_account, split_s3_uri
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.registry import describe
from mmeops.tune import history

MODEL = "e2e-diabetes"


def mmeops(root, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["--repo", str(root), *args])
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


@pytest.fixture
def repo(stack, repo_copy, monkeypatch):
    isolate(repo_copy, "e2e")
    src = repo_copy / "models" / "diabetes-progression"
    dst = repo_copy / "models" / MODEL
    shutil.copytree(src, dst)
    text = (dst / "model.yaml").read_text().replace("name: diabetes-progression", f"name: {MODEL}")
    (dst / "model.yaml").write_text(text.replace("num_round: 300", "num_round: 40"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
            cwd=repo_copy,
            check=True,
        )
    return repo_copy


@pytest.mark.slow
def test_retrain_with_sagemaker_registers_and_serves_what_the_job_trained(repo):
    first = mmeops(repo, "retrain", MODEL, "--backend", "sagemaker", "--max-jobs", "4")
    assert f"registered {MODEL} version 1" in first
    second = mmeops(repo, "retrain", MODEL, "--backend", "sagemaker", "--max-jobs", "4")
    assert f"registered {MODEL} version 2" in second
    assert re.search(
        r"warm start (IdenticalDataAndAlgorithm|TransferLearning) from 1 parent", second
    )

    cfg = load_repo(repo)
    t = cfg.settings.training
    training = for_account(t.account_id, t.region, t.role_arn)
    records = history.read(training, cfg.settings.bucket, MODEL)
    assert [r.status for r in records] == ["Completed", "Completed"]
    for record in records:
        # Only what the job produced: the image's xgboost line, every trial, a real artifact.
        assert record.backend == "sagemaker" and record.xgboost_version == "3.2"
        assert len(record.trials) == record.n_training_jobs == 4
        # The best of its own trials, or better: after an identical-data warm start the best
        # job overall may be a parent's (OverallBestTrainingJob).
        assert record.best_value <= min(trial["value"] for trial in record.trials) + 1e-9
        data, _ = training.get_bytes(*split_s3_uri(record.artifact_uri))
        assert load_booster(data).num_boosted_rounds() >= 1
    assert records[0].best_value == pytest.approx(min(t["value"] for t in records[0].trials))
    assert records[1].parents == [records[0].job_name]

    mmeops(repo, "promote", MODEL, "2", "--to", "sandbox")
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qam", "v2"],
        cwd=repo,
        check=True,
    )
    mmeops(repo, "reconcile", "sandbox", "--apply")

    # The endpoint answers the registered model's own predictions for the sample rows.
    package = describe(training, MODEL, 2)
    sample_uri = package["CustomerMetadataProperties"]["sample_uri"]
    rows = repo / "rows.csv"
    rows.write_bytes(training.get_bytes(*split_s3_uri(sample_uri))[0])
    recorded = json.loads(
        training.get_bytes(*split_s3_uri(sample_uri.removesuffix(".csv") + ".json"))[0]
    )
    answer = mmeops(repo, "invoke", "sandbox", MODEL, "--body", str(rows))
    served = [float(line) for line in answer.splitlines() if not line.startswith("answered")]
    assert served == recorded["predictions"][: len(served)] and len(served) == recorded["rows"]
