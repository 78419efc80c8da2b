"""Issue 17, items 1 and 2: no useless model passes the gate, and early stopping cannot cut a
model to nothing. Reproduced on generated data: a label one feature separates, 178 rows over
two years, like the wine table whose first version predicted one class and reached prod."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from click.testing import CliRunner

from helpers import line_of
from mmeops import artifact
from mmeops.aws import for_account, split_s3_uri
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.register.evaluate import read_split
from mmeops.tune import history

SCHEMA = "q17gate"
FEATURES = [f"f{i}" for i in range(1, 14)]


@pytest.fixture(scope="module")
def table(stack) -> str:
    """178 rows, 13 numeric features; about 40% positive, and f1 is the label itself, so
    every split scores a perfect AUC. (A margin between two continuous clouds is not enough:
    xgboost's hist method cuts at training values, and a validation row in the gap can land
    on the wrong side.)"""
    rng = np.random.default_rng(17)
    labels = (rng.random(178) < 0.4).astype(int)
    x = rng.normal(size=(178, 13))
    x[:, 0] = labels
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
            cols = ", ".join(f"{f} double precision" for f in FEATURES)
            cur.execute(f"CREATE TABLE {SCHEMA}.wine (id int, event_date date, {cols}, label int)")
            for i, row in enumerate(x):
                cur.execute(
                    f"INSERT INTO {SCHEMA}.wine VALUES (%s, date '2024-01-01' + %s, "
                    + ", ".join(["%s"] * 13)
                    + ", %s)",
                    (i, i * 4, *map(float, row), int(labels[i])),
                )
    finally:
        conn.close()
    return f"{SCHEMA}.wine"


def add_model(root: Path, table: str, *, static: str, objective: str, direction: str) -> str:
    name = f"wine-{secrets.token_hex(3)}"
    folder = root / "models" / name
    folder.mkdir()
    (folder / "query.sql").write_text(
        f"SELECT {', '.join(FEATURES)}, label FROM {table}\n"
        "WHERE event_date >= %(start_date)s AND event_date < %(end_date)s\nORDER BY id\n"
    )
    (folder / "model.yaml").write_text(f"""name: {name}
problem: binary
target: label
window: {{start: 2024-01-01, lag_days: 0}}
split: {{validation: 0.2, test: 0.2, seed: 3}}
xgboost:
  image_version: "3.2-0"
  static_hyperparameters:
    objective: binary:logistic
{static}
tuning:
  objective_metric: {objective}
  direction: {direction}
  max_jobs: 3
  ranges:
    eta: {{type: continuous, min: 0.01, max: 0.03}}
    max_depth: {{type: integer, min: 2, max: 4}}
gate:
  metric: auc
  bound: 0.8
  also:
    - {{metric: f1, bound: 0.5}}
""")
    return name


LOGLOSS = {"objective": "validation:logloss", "direction": "Minimize"}
AUC = {"objective": "validation:auc", "direction": "Maximize"}


def tuned(root: Path, table: str, static: str, tuning: dict) -> tuple[str, str]:
    """A model extracted and tuned with these settings; its name and the tune output."""
    model = add_model(root, table, static=static, **tuning)
    assert run(root, "extract", model).exit_code == 0
    result = run(root, "tune", model)
    assert result.exit_code == 0, result.output
    return model, result.output


def run(root: Path, *args: str):
    return CliRunner().invoke(main, ["--repo", str(root), *args])


def training(root: Path):
    t = load_repo(root).settings.training
    return for_account(t.account_id, t.region, t.role_arn)


def packages(root: Path, model: str) -> list:
    aws = training(root)
    try:
        return aws.client("sagemaker").list_model_packages(ModelPackageGroupName=model)[
            "ModelPackageSummaryList"
        ]
    except aws.client("sagemaker").exceptions.ClientError:
        return []


def classes_predicted(root: Path, model: str, tmp_path: Path) -> set[int]:
    """The classes the tuned artifact predicts on the dataset's test split, at 0.5."""
    repo = load_repo(root)
    aws = training(root)
    record = history.latest(aws, repo.settings.bucket, model)
    data, _ = aws.get_bytes(*split_s3_uri(record.artifact_uri))
    test = tmp_path / "test.csv"
    key = f"datasets/{model}/{record.dataset_run_id}/test.csv"
    aws.download_file(repo.settings.bucket, key, str(test))
    _, features = read_split(test)
    import xgboost

    predictions = artifact.load_booster(data).predict(xgboost.DMatrix(features))
    return set((predictions >= 0.5).astype(int).tolist())


def test_a_model_that_predicts_one_class_is_refused_whatever_its_auc(table, repo_copy, tmp_path):
    # Three small trees: the ranking is right (AUC high) but no probability reaches 0.5, the
    # shape of the version that shipped (highest probability 0.488).
    model, _ = tuned(repo_copy, table, "    num_round: 3", LOGLOSS)
    report = tmp_path / "report.md"
    result = run(repo_copy, "register", model, "--report", str(report))
    assert result.exit_code == 3, result.output
    assert "gate refused the model: it predicts class 0 for all" in result.output
    assert "threshold 0.5 (highest probability 0.4" in result.output
    assert packages(repo_copy, model) == []
    text = report.read_text()
    assert text.startswith(f"### ❌ {model}: refused as degenerate, nothing registered")
    assert "| **f1** (gate) ❌ | 0 |" in text
    assert classes_predicted(repo_copy, model, tmp_path) == {0}


def test_early_stopping_on_log_loss_keeps_a_model_that_predicts_both_classes(
    table, repo_copy, tmp_path
):
    # The template's setting: early stopping on the tuning objective, now log-loss.
    model, _ = tuned(repo_copy, table, "    num_round: 200\n    early_stopping_rounds: 20", LOGLOSS)
    result = run(repo_copy, "register", model)
    assert result.exit_code == 0, result.output
    assert "gate passed on auc, f1" in result.output
    assert len(packages(repo_copy, model)) == 1
    assert classes_predicted(repo_copy, model, tmp_path) == {0, 1}


def test_early_stopping_on_a_saturating_metric_is_refused_at_validate(table, repo_copy):
    # sagemaker-xgboost-container src/sagemaker_xgboost_container/algorithm_mode/train.py
    # (lines 331-336): inside a tuning job early stopping follows the tuning objective metric,
    # and callback.py keeps only the trees up to the best round (save_best).
    model = add_model(
        repo_copy, table, static="    num_round: 200\n    early_stopping_rounds: 20", **AUC
    )
    result = run(repo_copy, "validate")
    assert result.exit_code == 2
    path = repo_copy / "models" / model / "model.yaml"
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"models/{model}/model.yaml:{line_of(path, 'early_stopping_rounds')}")
    assert "tune on validation:logloss" in line


def test_trials_tied_at_a_perfect_auc_are_reported_and_the_report_is_not_green(
    table, repo_copy, tmp_path
):
    model, output = tuned(repo_copy, table, "    num_round: 100", AUC)
    assert "warning: all 3 trials tie at validation:auc = 1" in output
    report = tmp_path / "report.md"
    result = run(repo_copy, "register", model, "--report", str(report))
    assert "warning: all 3 trials tie at validation:auc = 1" in result.output
    lines = report.read_text().splitlines()
    assert "✅" not in lines[0]
    assert any(line.startswith("> ⚠️ all 3 trials tie at validation:auc = 1") for line in lines)
