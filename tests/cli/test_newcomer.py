"""Issue 27, the newcomer's stumbles: `./mmeops` runs the clone's own command (or says how to
get it), and `--help` names MMEOPS_REPO, the way to work on a copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wrapper_runs_the_clones_mmeops():
    run = subprocess.run([str(ROOT / "mmeops"), "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and "version" in run.stdout, run.stderr


def test_the_wrapper_without_a_virtualenv_says_what_to_run(tmp_path):
    shutil.copy2(ROOT / "mmeops", tmp_path / "mmeops")
    run = subprocess.run([str(tmp_path / "mmeops"), "--version"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().endswith("run `make setup` (or `make demo`) first")


def test_help_names_mmeops_repo():
    run = subprocess.run([str(ROOT / "mmeops"), "--help"], capture_output=True, text=True)
    assert "MMEOPS_REPO" in run.stdout and "a copy" in run.stdout


def test_stack_env_outside_a_repository_says_where_to_run_it(tmp_path):
    run = subprocess.run(
        [str(ROOT / "mmeops"), "stack", "env"], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 2
    assert "not in an mmeops repository" in run.stderr and "--repo" in run.stderr


def test_stack_variables_left_after_the_stack_stopped_say_the_stack_is_down(repo_copy):
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens there
    run = subprocess.run(
        [str(ROOT / "mmeops"), "--repo", str(repo_copy), "reconcile", "sandbox", "--plan"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert "where nothing answers: the embedded stack is down" in line
