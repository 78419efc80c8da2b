"""`mmeops due`: which models' schedules fired in a window, as a workflow matrix."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mmeops.cli import main

ROOT = Path(__file__).resolve().parents[1]


def due(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["--repo", str(ROOT), "due", *args], env=env)


def test_daily_and_weekly_schedules():
    # breast-cancer: "0 4 * * *"; diabetes-progression: "0 3 * * 1" (Mondays).
    sunday = due("--since", "2026-11-22T02:00Z", "--until", "2026-11-22T05:00Z")
    assert sunday.exit_code == 0, sunday.output
    assert json.loads(sunday.output) == ["breast-cancer"]
    monday = due("--since", "2026-11-23T02:00Z", "--until", "2026-11-23T05:00Z")
    assert json.loads(monday.output) == ["breast-cancer", "diabetes-progression"]


def test_window_edges_fire_once():
    # A fire time exactly at --until is due; exactly at --since belonged to the previous run.
    at_end = due("--since", "2026-11-22T03:00Z", "--until", "2026-11-22T04:00Z")
    assert json.loads(at_end.output) == ["breast-cancer"]
    at_start = due("--since", "2026-11-22T04:00Z", "--until", "2026-11-22T05:00Z")
    assert json.loads(at_start.output) == []


def test_window_option_and_github_output(tmp_path: Path):
    out = tmp_path / "out"
    result = due("--until", "2026-11-22T04:30Z", "--window", "1h", env={"GITHUB_OUTPUT": str(out)})
    assert json.loads(result.output) == ["breast-cancer"]
    # one list, at most 256 models: the run's one matrix
    assert out.read_text() == 'models=["breast-cancer"]\n'


def test_bad_arguments_exit_2():
    assert due("--since", "yesterday").exit_code == 2
    assert due("--window", "1 week").exit_code == 2
    reversed_window = due("--since", "2026-11-22T05:00Z", "--until", "2026-11-22T04:00Z")
    assert reversed_window.exit_code == 2
    assert "--since must be before --until" in reversed_window.output
