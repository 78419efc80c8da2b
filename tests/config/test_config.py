"""Config validation: the examples load, and each kind of mistake names its file and line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import line_of
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.config.schema import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for part in ("mmeops.yaml", "models", "environments"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, tmp_path / part)
        else:
            shutil.copy(src, tmp_path / part)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_examples_load_with_every_field():
    repo = load_repo(ROOT)
    assert set(repo.models) == {"diabetes-progression", "breast-cancer"}
    assert set(repo.envs) == {"sandbox", "qa", "prod"}
    assert len({env.account_id for env in repo.envs.values()}) == 3
    diabetes = repo.models["diabetes-progression"]
    assert diabetes.problem == "regression"
    assert diabetes.split.time_column == "event_date"
    assert diabetes.tuning.ranges["eta"].scaling == "Logarithmic"
    assert diabetes.gate_direction == "min"
    assert repo.models["breast-cancer"].gate_direction == "max"
    qa = repo.envs["qa"]
    assert qa.promotion_from == "sandbox" and qa.approve is True
    assert qa.artifact_bucket == "mmeops-qa-333333333333"
    assert qa.artifact_key_prefix == "mme/"
    assert qa.retention == 3 and qa.naming == "versioned"
    assert repo.settings.warehouse.dsn_env == "MMEOPS_WAREHOUSE_DSN"


def test_validate_cli_accepts_the_examples():
    result = CliRunner().invoke(main, ["--repo", str(ROOT), "validate"])
    assert result.exit_code == 0, result.output
    assert "2 models, 3 environments" in result.output


# (file, old text, new text, text on the offending line after the edit, words in the message)
BAD = [
    (
        "environments/qa.yaml",
        "retention: 3",
        "retention: 3\nretentoin: 4",
        "retentoin",
        "unknown key 'retentoin'",
    ),
    (
        "environments/qa.yaml",
        "models: {}",
        'models:\n  diabetes-progression: "3"',
        "diabetes-progression",
        "valid integer",
    ),
    (
        "environments/qa.yaml",
        "models: {}",
        "models:\n  diabetes-progression: 0",
        "diabetes-progression",
        "greater than or equal to 1",
    ),
    (
        "environments/qa.yaml",
        "models: {}",
        "models:\n  diabetes-progression: -2",
        "diabetes-progression",
        "greater than or equal to 1",
    ),
    (
        "environments/qa.yaml",
        "models: {}",
        "models:\n  churn: 1",
        "churn",
        "has no folder models/churn/",
    ),
    (
        "environments/qa.yaml",
        "models: {}",
        "models:\n  breast-cancer: 1\n  breast-cancer: 2",
        "breast-cancer: 2",
        "duplicate key",
    ),
    (
        "environments/qa.yaml",
        'account_id: "333333333333"',
        "account_id: 333333333333",
        "account_id: 333",
        "quote the value",
    ),
    (
        "environments/qa.yaml",
        'account_id: "333333333333"',
        'account_id: "3333"',
        "account_id:",
        "account_id",
    ),
    ("environments/qa.yaml", "naming: versioned", "naming: rolling", "naming:", "naming"),
    ("environments/qa.yaml", "approve: true", "approve: yes please", "approve:", "approve"),
    (
        "environments/qa.yaml",
        "promotion_from: sandbox",
        "promotion_from: staging",
        "promotion_from:",
        "has no file in environments/",
    ),
    (
        "environments/qa.yaml",
        "name: qa",
        "name: quality",
        "name: quality",
        "must equal the file name",
    ),
    (
        "environments/qa.yaml",
        "artifact_prefix: s3://mmeops-qa-333333333333/mme/",
        "artifact_prefix: s3://mmeops-qa-333333333333/../mme",
        "artifact_prefix",
        "artifact_prefix",
    ),
    (
        "environments/qa.yaml",
        "role_arn: arn:aws:iam::333333333333:role/mmeops-deployer",
        "role_arn: arn:aws:iam::999999999999:role/mmeops-deployer",
        "role_arn",
        "role_arn is in account 999999999999",
    ),
    (
        "environments/qa.yaml",
        "  instance_count: 1",
        "  instance_count: two",
        "instance_count",
        "valid integer",
    ),
    (
        "environments/qa.yaml",
        "endpoint:\n",
        "endpoint:\n  autoscaling: {min_capacity: 3, "
        "max_capacity: 1, target_invocations_per_instance: 10}\n",
        "autoscaling",
        "min_capacity cannot exceed max_capacity",
    ),
    ("environments/qa.yaml", "models: {}", "models: [a, b]", "models:", "valid dictionary"),
    (
        "environments/qa.yaml",
        "region: us-east-1\nrole",
        "region: [us-east-1\nrole",
        "role_arn",
        "YAML syntax error",
    ),
    (
        "models/breast-cancer/model.yaml",
        "problem: binary",
        "problem: classification",
        "problem:",
        "'regression' or 'binary'",
    ),
    (
        "models/breast-cancer/model.yaml",
        "name: breast-cancer",
        "name: Breast_Cancer",
        "name:",
        "pattern",
    ),
    (
        "models/breast-cancer/model.yaml",
        "  lag_days: 1",
        "  lag_days: 1\n  lag_days: 2",
        "lag_days: 2",
        "duplicate key",
    ),
    (
        "models/breast-cancer/model.yaml",
        "  max_jobs: 12",
        "  max_jobs: twelve",
        "max_jobs",
        "valid integer",
    ),
    (
        "models/breast-cancer/model.yaml",
        "    eta: {",
        "    learning_rate: {",
        "learning_rate",
        "not a tunable SageMaker XGBoost hyperparameter: learning_rate",
    ),
    (
        "models/breast-cancer/model.yaml",
        "  direction: Minimize",
        "  direction: Maximize",
        "direction:",
        "validation:logloss is tuned with direction Minimize",
    ),
    (
        "models/breast-cancer/model.yaml",
        "  metric: auc",
        "  metric: rmse",
        "metric: rmse",
        "gate metric rmse does not apply to binary",
    ),
    (
        "models/breast-cancer/model.yaml",
        'image_version: "3.2-0"',
        'image_version: "9.9-9"',
        "image_version",
        "image_version",
    ),
    (
        "models/breast-cancer/model.yaml",
        'schedule: "0 4 * * *"',
        'schedule: "every day"',
        "schedule:",
        "not a valid cron expression",
    ),
    (
        "models/breast-cancer/model.yaml",
        "query: query.sql",
        "query: ../../etc/passwd",
        "query:",
        "pattern",
    ),
    (
        "models/breast-cancer/model.yaml",
        "query: query.sql",
        "query: missing.sql",
        "query:",
        "query file missing.sql not found",
    ),
    (
        "models/breast-cancer/model.yaml",
        "  start: 2025-01-01",
        '  start: "January"',
        "start:",
        "unquoted date",
    ),
    (
        "models/breast-cancer/model.yaml",
        "  seed: 11\n",
        "  seed: 11\n  colour: red\n",
        "colour",
        "unknown key 'split.colour'",
    ),
    (
        "models/breast-cancer/model.yaml",
        "    max_depth: {type: integer, min: 2, max: 6}",
        "    max_depth: {type: integer, min: 6, max: 2}",
        "max_depth",
        "min (6.0) must be below",
    ),
    (
        "mmeops.yaml",
        "bucket: mmeops-training-111111111111",
        "bucket: Bad_Bucket",
        "bucket:",
        "pattern",
    ),
    (
        "mmeops.yaml",
        "  dsn_env: MMEOPS_WAREHOUSE_DSN\n",
        "  dsn_env: MMEOPS_WAREHOUSE_DSN\n  secret_id: mmeops/warehouse\n",
        "warehouse:",
        "set exactly one of dsn_env",
    ),
    (
        "mmeops.yaml",
        "champion_env: prod",
        "champion_env: production",
        "champion_env",
        "has no file in environments/",
    ),
    ("mmeops.yaml", "  region: us-east-1", "  region: mars", "region:", "pattern"),
]


@pytest.mark.parametrize(
    "rel, old, new, needle, words",
    BAD,
    ids=[f"{i:02d}-{b[0].split('/')[-1]}-{b[4][:30]}" for i, b in enumerate(BAD)],
)
def test_bad_config_names_file_and_line(repo: Path, rel, old, new, needle, words):
    path = repo / rel
    edit(path, old, new)
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, ["--repo", str(repo), "validate"])
    assert result.exit_code == 2, result.output
    expected = f"{rel}:{line_of(path, needle)}:"
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert any(ln.startswith(expected) and words in ln for ln in lines), (expected, lines)
    # Validation reads; it never rewrites anything.
    assert before == {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}


def test_model_without_its_folder_name(repo: Path):
    shutil.move(repo / "models" / "breast-cancer", repo / "models" / "cancer")
    result = CliRunner().invoke(main, ["--repo", str(repo), "validate"])
    assert result.exit_code == 2
    assert "models/cancer/model.yaml:2: name 'breast-cancer' must equal" in result.output


def test_github_annotations(repo: Path, monkeypatch):
    edit(repo / "environments/qa.yaml", "retention: 3", "retention: 3\nretentoin: 4")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = CliRunner().invoke(main, ["--repo", str(repo), "validate"])
    assert result.exit_code == 2
    line = line_of(repo / "environments/qa.yaml", "retentoin")
    assert f"::error file=environments/qa.yaml,line={line}::unknown key 'retentoin'" in (
        result.output
    )


def test_schemas_are_current_and_accept_the_examples(tmp_path: Path):
    result = CliRunner().invoke(main, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for filename in SCHEMAS:
        generated = json.loads((tmp_path / filename).read_text())
        committed = json.loads((ROOT / "schemas" / filename).read_text())
        assert generated == committed, f"schemas/{filename} is stale: run `mmeops schema`"
        assert generated["additionalProperties"] is False


def test_every_command_has_help_with_an_example():
    def walk(group, prefix):
        for name, command in group.commands.items():
            yield f"{prefix} {name}".strip(), command
            if hasattr(command, "commands"):
                yield from walk(command, f"{prefix} {name}")

    commands = list(walk(main, ""))
    assert len(commands) >= 2
    for name, _command in commands:
        result = CliRunner().invoke(main, [*name.split(), "--help"])
        assert result.exit_code == 0, name
        assert re.search(r"Example:\s+\S*.*mmeops ", result.output), (
            f"`mmeops {name}` lacks an example"
        )


def test_the_cli_starts_without_loading_the_ml_stack():
    # `mmeops --help`, validate, due, stack env... must answer at once: the heavy libraries
    # (seconds to import) load only when a command that trains or evaluates runs.
    import subprocess
    import sys

    code = (
        "import sys, mmeops.cli; "
        "print(sorted(m for m in ('xgboost', 'sklearn', 'optuna', 'pandas', 'sagemaker') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
