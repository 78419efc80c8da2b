"""One rolling retrain pull request, rebuilt on main by each run (issue 24, item 5).

Hourly runs that retrained different models opened pull requests that conflicted with each
other once one merged (GitHub then runs no `pull_request` workflow on them). Now every run
rebuilds `mmeops/retrain-ENV` from main: the pins the open pull request still carries, plus
this run's, and a body with a `Kind:` line per model. Real files, the real CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.deploy.rolling import BODY_MAX, Entry, body
from mmeops.errors import UserError


def _pins(folder: Path, **versions: tuple[int, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for model, (version, kind) in versions.items():
        (folder / f"{model}.version").write_text(f"{version}\n")
        (folder / f"{model}.kind").write_text(kind)
        (folder / f"{model}.md").write_text(f"Evaluation of {model} v{version}: auc 0.97\n")
    return folder


def _roll(repo: Path, pins: Path, out: Path, previous_file=None, previous_body=None):
    args = ["--repo", str(repo), "rolling", "--to", "sandbox", "--pins-dir", str(pins)]
    args += ["--body-out", str(out)]
    if previous_file:
        args += ["--previous-file", str(previous_file)]
    if previous_body:
        args += ["--previous-body", str(previous_body)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_a_second_run_keeps_the_first_runs_pins_and_kinds(repo_copy: Path, tmp_path: Path):
    sandbox = repo_copy / "environments" / "sandbox.yaml"
    main_text = sandbox.read_text()
    # Run 1 retrains breast-cancer: the branch pins it.
    first = _roll(
        repo_copy, _pins(tmp_path / "r1", **{"breast-cancer": (4, "retuned")}), tmp_path / "b1"
    )
    assert "- breast-cancer v4: Kind: retuned" in first
    branch_file = tmp_path / "branch.yaml"
    branch_file.write_text(sandbox.read_text())
    # Run 2 starts again from main (not merged yet) and retrains diabetes-progression.
    sandbox.write_text(main_text)
    second = _roll(
        repo_copy,
        _pins(tmp_path / "r2", **{"diabetes-progression": (2, "recalibrated")}),
        tmp_path / "b2",
        previous_file=branch_file,
        previous_body=tmp_path / "b1",
    )
    assert load_repo(repo_copy).env("sandbox").models == {
        "breast-cancer": 4,
        "diabetes-progression": 2,
    }
    assert "- breast-cancer v4: Kind: retuned" in second
    assert "- diabetes-progression v2: Kind: recalibrated" in second
    assert "Evaluation of breast-cancer v4" in second  # the carried report survives


def test_a_pin_main_caught_up_with_is_not_carried(repo_copy: Path, tmp_path: Path):
    sandbox = repo_copy / "environments" / "sandbox.yaml"
    _roll(repo_copy, _pins(tmp_path / "r1", **{"breast-cancer": (4, "retuned")}), tmp_path / "b1")
    branch_file = tmp_path / "branch.yaml"
    branch_file.write_text(sandbox.read_text())
    # Meanwhile main got v5 (merged, or promoted by hand): v4 must not roll it back.
    sandbox.write_text(sandbox.read_text().replace("breast-cancer: 4", "breast-cancer: 5"))
    text = _roll(
        repo_copy,
        _pins(tmp_path / "r2", **{"diabetes-progression": (2, "retuned")}),
        tmp_path / "b2",
        previous_file=branch_file,
        previous_body=tmp_path / "b1",
    )
    assert load_repo(repo_copy).env("sandbox").models["breast-cancer"] == 5
    assert "breast-cancer v4" not in text


def test_the_kind_comes_from_the_report_tune_wrote(repo_copy: Path, tmp_path: Path):
    pins = tmp_path / "r"
    pins.mkdir()
    (pins / "breast-cancer.version").write_text("4\n")
    (pins / "breast-cancer.md").write_text("**Kind: recalibrated**: one training job\n")
    (pins / "diabetes-progression.version").write_text("2\n")  # no report: fail safe
    text = _roll(repo_copy, pins, tmp_path / "b")
    assert "- breast-cancer v4: Kind: recalibrated" in text
    assert "- diabetes-progression v2: Kind: retuned" in text


def test_a_bad_kind_is_exit_2_naming_the_file(repo_copy: Path, tmp_path: Path):
    pins = _pins(tmp_path / "r", **{"breast-cancer": (4, "tuned")})
    before = (repo_copy / "environments" / "sandbox.yaml").read_text()
    result = CliRunner().invoke(
        main,
        ["--repo", str(repo_copy), "rolling", "--to", "sandbox", "--pins-dir", str(pins),
         "--body-out", str(tmp_path / "b")],
    )  # fmt: skip
    assert result.exit_code == 2 and "breast-cancer.kind: kind must be one of" in result.output
    assert (repo_copy / "environments" / "sandbox.yaml").read_text() == before


def test_the_body_keeps_every_kind_line_within_githubs_limit():
    """1,000 pending models (four runs of 256 before a merge): every Kind line, reports while
    they fit. Too many to list is refused with the fix, never a body without some kinds."""
    entries = [Entry(f"model-{i:04d}", 3, "retuned", "x" * 400) for i in range(1000)]
    text = body("sandbox", entries)
    assert len(text) <= BODY_MAX and "Truncated" in text
    kinds = [ln for ln in text.splitlines() if ln.startswith("- ") and ln.endswith("Kind: retuned")]
    assert len(kinds) == 1000
    many = [Entry(f"model-{i:04d}", 3, "retuned", "") for i in range(3000)]
    with pytest.raises(UserError, match="merge or close mmeops/retrain-sandbox"):
        body("sandbox", many)
