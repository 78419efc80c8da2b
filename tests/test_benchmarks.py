"""Every benchmark still runs, on sizes that take seconds, and prints its last line (issue 28:
each target is a benchmark's last line). Four of them had stopped with AccessDenied or a
failed training job once IAM was enforced and SageMaker acted as the execution role, and
nothing noticed: a benchmark that cannot run measures nothing. The figures themselves are
not judged here (speed targets live in benchmarks/, never in timed tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The slow tier (make test-slow; CI runs it): each starts its own stack or cluster.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

RUNS = [
    ("reconcile.py", ["--models", "5", "--workers", "2"], "reconcile models=5 "),
    ("production_path.py", ["--max-jobs", "2", "--repeats", "1"], "production_path "),
    ("extract.py", ["--rows", "20000", "--repeat", "1", "--skip-pandas"], "extract rows=20000 "),
    ("training.py", ["--rows", "500", "--jobs", "2", "--rounds", "1"], "training "),
    ("serving.py", [], "serving "),
    ("front_door.py", ["--calls", "20", "--seconds", "0.5", "--slices", "1", "--runs", "1"],
     "front_door "),
    ("iam_overhead.py", ["--requests", "20", "--repeat", "1"], "iam_overhead requests=20 "),
    ("strict_overhead.py", ["--requests", "20", "--repeat", "1"], "strict_overhead "),
    ("warm_start.py", ["--seeds", "2", "--trials", "10", "--problems", "wine_binary"],
     "warm_start problems=1 "),
]  # fmt: skip


@pytest.mark.parametrize(("script", "args", "last"), RUNS, ids=[r[0] for r in RUNS])
def test_the_benchmark_runs_and_prints_its_last_line(script, args, last):
    env = {**os.environ, "CI": "true"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stderr[-3000:]
    assert lines and lines[-1].startswith(last), done.stdout[-2000:]
