"""A config error reaches the user as fast as `validate` reports it: the commands that run a
stage read the repository before importing the stage (xgboost, optuna, sklearn and
sagemaker-core took `retrain` 12-15 s to load before it said what `validate` said in 2 s;
issue 27). Checked by what a fresh interpreter has imported when the error is out, not by a
timing (speed figures live in benchmarks/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("xgboost", "optuna", "sklearn", "psycopg2")

PROBE = """
import json, sys
from click.testing import CliRunner
from mmeops.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "output": result.output,
                  "loaded": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize(
    "argv",
    [["retrain", "diabetes-progression"], ["tune", "diabetes-progression"],
     ["register", "diabetes-progression"], ["extract", "diabetes-progression"]],
    ids=lambda a: a[0],
)  # fmt: skip
def test_a_config_error_comes_before_the_stage_is_loaded(repo_copy: Path, argv):
    path = repo_copy / "models" / "diabetes-progression" / "model.yaml"
    path.write_text(path.read_text().replace("problem: regression", "problem: regresion"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--repo", str(repo_copy), *argv],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["exit"] == 2
    assert "model.yaml:3: problem: Input should be 'regression' or 'binary'" in got["output"]
    assert got["loaded"] == []
