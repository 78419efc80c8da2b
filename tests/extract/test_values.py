"""Issue 17, item 3: extract refuses, before anything is uploaded, what training cannot use.

XGBoost keeps features as float32. Checked with xgboost-cpu 3.2 (the pinned version):
`xgboost.DMatrix(np.array([[1.797e308]]))` fails in src/data/data.cc ("Input data contains
`inf` or a value too large"), and binary:logistic with a label of 2 fails in
src/objective/regression_obj.cu ("label must be in (0, 1) for logistic regression"): both as
tracebacks in `tune`, long after the upload.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import warehouse_sql
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.extract.run import training_aws

SCHEMA = "q17values"


@pytest.fixture(scope="module")
def schema(stack) -> str:
    warehouse_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    return SCHEMA


def table_with(name: str, odd_x: str = "1", odd_y: str = "0", y_type: str = "int") -> str:
    """20 ordinary rows over January 2025, and one odd row (x, y) on 2025-01-15."""
    warehouse_sql(f"""
        CREATE TABLE {SCHEMA}.{name} (day date, x double precision, z numeric, y {y_type});
        INSERT INTO {SCHEMA}.{name}
            SELECT date '2025-01-01' + g, g * 0.5, g, g % 2 FROM generate_series(0, 19) g;
        INSERT INTO {SCHEMA}.{name} VALUES ('2025-01-15', {odd_x}, 1, {odd_y});
    """)  # fmt: skip
    return f"{SCHEMA}.{name}"


def add_model(root: Path, table: str, problem: str = "binary", start: str = "2025-01-01") -> str:
    name = f"values-{secrets.token_hex(3)}"
    folder = root / "models" / name
    folder.mkdir()
    (folder / "query.sql").write_text(
        f"SELECT x, z, y FROM {table}\n"
        "WHERE day >= %(start_date)s AND day < %(end_date)s\nORDER BY day\n"
    )
    objective, metric = (
        ("binary:logistic", "logloss") if problem == "binary" else ("reg:squarederror", "rmse")
    )
    gate = "auc" if problem == "binary" else "rmse"
    (folder / "model.yaml").write_text(f"""name: {name}
problem: {problem}
target: y
window: {{start: {start}}}
split: {{validation: 0.2, test: 0.2}}
xgboost:
  image_version: "3.2-0"
  static_hyperparameters: {{objective: "{objective}", num_round: 5}}
tuning:
  objective_metric: validation:{metric}
  direction: Minimize
  max_jobs: 1
  ranges:
    eta: {{type: continuous, min: 0.1, max: 0.3}}
gate: {{metric: {gate}, bound: 0.5}}
""")
    return name


def extract(root: Path, model: str, *args: str):
    return CliRunner().invoke(main, ["--repo", str(root), "extract", model, *args])


def uploaded(root: Path, model: str) -> list:
    repo = load_repo(root)
    return list(training_aws(repo).list_objects(repo.settings.bucket, f"datasets/{model}/"))


@pytest.mark.parametrize(
    ("odd_x", "odd_y", "y_type", "problem", "message"),
    [
        (
            "1.797e308",
            "0",
            "int",
            "binary",
            "feature column 'x' holds 1.797e+308, outside float32's finite range",
        ),
        ("'Infinity'", "0", "int", "binary", "feature column 'x' holds Infinity, outside"),
        ("'-Infinity'", "0", "int", "binary", "feature column 'x' holds -Infinity, outside"),
        ("1", "'NaN'", "double precision", "regression", "target column 'y' is NaN in 1 rows"),
        ("1", "-1e39", "double precision", "regression", "target column 'y' holds -1e+39"),
        ("1", "2", "int", "binary", "target column 'y' holds 2, but a binary model's labels"),
    ],
)
def test_values_training_cannot_use_stop_the_extract_naming_column_and_value(
    schema, repo_copy, odd_x, odd_y, y_type, problem, message
):
    table = table_with(f"t_{secrets.token_hex(3)}", odd_x, odd_y, y_type)
    model = add_model(repo_copy, table, problem)
    result = extract(repo_copy, model)
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: models/{model}/query.sql: "), line
    assert message in line
    assert "Traceback" not in result.output
    assert uploaded(repo_copy, model) == []


@pytest.mark.parametrize(
    ("table", "odd_x"),
    [
        ("nan_feature", "'NaN'"),  # XGBoost reads NaN as missing (DMatrix's missing=np.nan)
        ("big_but_finite", "1e38"),  # written 1e+38: looks odd, is inside float32's range
    ],
)
def test_harmless_values_that_look_odd_pass(schema, repo_copy, table, odd_x):
    model = add_model(repo_copy, table_with(table, odd_x, "1"))
    result = extract(repo_copy, model)
    assert result.exit_code == 0, result.output
    assert uploaded(repo_copy, model)


def test_too_few_rows_says_how_many_the_window_and_the_table_hold(schema, repo_copy):
    model = add_model(repo_copy, table_with("few"), start="2025-01-19")
    result = extract(repo_copy, model, "--end", "2025-01-21")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "only 2 rows in the window 2025-01-19 to 2025-01-21" in line
    assert "(without the window the query returns 21)" in line
    assert uploaded(repo_copy, model) == []


@pytest.mark.parametrize(
    ("odd_z", "shown"),
    [
        # A numeric prints every digit, no exponent (PostgreSQL docs, "Arbitrary Precision
        # Numbers"): 41 digits, only digits, yet beyond float32's 3.4e38.
        ("1e40", "1" + "0" * 40),
        ("-3.5e38", "-35" + "0" * 37),
    ],
)
def test_a_numeric_beyond_float32_written_in_digits_alone_stops_the_extract(
    schema, repo_copy, odd_z, shown
):
    table = table_with(f"t_{secrets.token_hex(3)}")
    warehouse_sql(f"UPDATE {table} SET z = {odd_z} WHERE day = '2025-01-15' AND x = 1")
    model = add_model(repo_copy, table)
    result = extract(repo_copy, model)
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert f"feature column 'z' holds {shown}, outside float32's finite range" in line
    assert uploaded(repo_copy, model) == []
