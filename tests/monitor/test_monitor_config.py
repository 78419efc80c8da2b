"""A bad `monitor:` section in model.yaml is bad input: exit 2, one line naming the file and
the line, before anything is read from AWS or the warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import line_of
from mmeops.cli import main

MODEL = "models/diabetes-progression/model.yaml"


@pytest.mark.parametrize(
    ("section", "needle", "expect"),
    [
        ("monitor:\n  distance: hellinger\n", "distance: hellinger", "'linf' or 'psi'"),
        ("monitor:\n  threshold: -0.1\n", "threshold: -0.1", "greater than 0"),
        ("monitor:\n  thresholds:\n    bmi: -1\n", "bmi: -1", "greater than 0"),
        ("monitor:\n  method: strict\n", "method: strict", "'calibrated', 'robust' or 'simple'"),
        ("monitor:\n  window_days: 0\n", "window_days: 0", "greater than or equal to 1"),
        ("monitor:\n  quality_confidence: 1\n", "quality_confidence: 1", "less than 1"),
        (
            "monitor:\n  source: s3\n",
            "source: s3",
            "'warehouse', 'capture' or 'both'",
        ),
    ],
)
def test_a_bad_monitor_section_is_exit_2_at_its_line(
    repo_copy: Path, section: str, needle: str, expect: str
):
    path = repo_copy / MODEL
    path.write_text(path.read_text() + section)
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "monitor", "prod"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"{MODEL}:{line_of(path, needle)}:" in lines[0]
    assert expect in lines[0]


def test_the_defaults_need_no_monitor_section(repo_copy: Path):
    from mmeops.config.repo import load_repo

    settings = load_repo(repo_copy).model("diabetes-progression").monitor
    assert (settings.distance, settings.threshold, settings.method) == (
        "linf",
        0.1,
        "calibrated",
    )
    assert (settings.false_alarm_rate, settings.window_days, settings.quality_confidence) == (
        0.005,
        7,
        0.95,
    )
    assert settings.source == "warehouse"  # today's behaviour: the model's query


def test_validate_names_a_bad_source_at_its_line(repo_copy: Path):
    """`mmeops validate` (what a pull request's check runs) refuses it too, before merge."""
    path = repo_copy / MODEL
    path.write_text(path.read_text() + "monitor:\n  source: capture-only\n")
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 2, result.output
    assert f"{MODEL}:{line_of(path, 'source: capture-only')}:" in result.output
    assert "'warehouse', 'capture' or 'both'" in result.output


def test_validate_warns_about_a_labels_sql_nothing_reads(repo_copy: Path):
    folder = repo_copy / "models" / "diabetes-progression"
    (folder / "labels.sql").write_text("SELECT id AS inference_id, y AS label FROM t\n")
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 0, result.output
    assert "warning: models/diabetes-progression/labels.sql: labels.sql is read only" in (
        result.output
    )
    path = folder / "model.yaml"
    path.write_text(path.read_text() + "monitor:\n  source: both\n")
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 0 and "labels.sql" not in result.output, result.output
