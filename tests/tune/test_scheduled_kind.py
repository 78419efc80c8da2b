"""What a scheduled retrain runs (the design document's loop): a recalibration once a
champion exists, unless model.yaml says `scheduled: retune`; a retune before any champion.
A quality violation and a person run `--kind retune` / `--kind recalibrate` explicitly."""

from __future__ import annotations

from pathlib import Path

from mmeops.config.repo import load_repo
from mmeops.tune.recalibrate import scheduled, scheduled_kind


def test_the_schedule_recalibrates_once_a_champion_exists():
    assert scheduled_kind("recalibrate", 7, "prod") == (True, "scheduled: recalibrate prod's v7")


def test_the_schedule_retunes_before_any_champion():
    again, why = scheduled_kind("recalibrate", None, "prod")
    assert not again and "prod serves no version yet" in why


def test_a_model_can_ask_its_schedule_to_retune():
    assert scheduled_kind("retune", 7, "prod") == (False, "scheduled: retune (model.yaml)")


def test_the_repository_decides_from_model_yaml_and_the_champion_pin(repo_copy: Path):
    prod = repo_copy / "environments" / "prod.yaml"
    text = prod.read_text()
    assert scheduled(load_repo(repo_copy), "diabetes-progression")[0] is False  # no pin yet
    prod.write_text(text.replace("models: {}", "models:\n  diabetes-progression: 3"))
    assert scheduled(load_repo(repo_copy), "diabetes-progression") == (
        True,
        "scheduled: recalibrate prod's v3",
    )
    model = repo_copy / "models" / "diabetes-progression" / "model.yaml"
    model.write_text(model.read_text() + "scheduled: retune\n")
    assert scheduled(load_repo(repo_copy), "diabetes-progression")[0] is False
