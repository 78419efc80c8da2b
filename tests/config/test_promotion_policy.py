"""The promotion policy is the pull request's required check, not only a line in the plan.

Issue 24, item 6: a pull request that rolled qa back below prod broke prod's policy; the plan
showed it, but `validate` (the required check, plan.yml) passed, so it could merge. Now
`mmeops validate` judges the policy across the environment files: exit 2 at prod's line.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mmeops.cli import main


def _pin(repo: Path, env: str, **versions: int) -> None:
    path = repo / "environments" / f"{env}.yaml"
    pins = "".join(f"  {m}: {v}\n" for m, v in versions.items())
    path.write_text(path.read_text().replace("models: {}\n", f"models:\n{pins}"))


def _validate(repo: Path):
    return CliRunner().invoke(main, ["--repo", str(repo), "validate"])


def _line(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def test_a_qa_rollback_below_prod_fails_validate_at_prods_line(repo_copy: Path):
    _pin(repo_copy, "sandbox", **{"breast-cancer": 3})
    _pin(repo_copy, "qa", **{"breast-cancer": 3})
    _pin(repo_copy, "prod", **{"breast-cancer": 3})
    assert _validate(repo_copy).exit_code == 0
    qa = repo_copy / "environments" / "qa.yaml"
    qa.write_text(qa.read_text().replace("breast-cancer: 3", "breast-cancer: 2"))
    result = _validate(repo_copy)
    assert result.exit_code == 2, result.output
    line = _line(repo_copy / "environments" / "prod.yaml", "breast-cancer")
    assert f"environments/prod.yaml:{line}:" in result.output
    assert "breast-cancer v3 is newer than v2 pinned in environments/qa.yaml" in result.output
    assert "Traceback" not in result.output


def test_a_version_never_promoted_upstream_fails_and_a_rollback_passes(repo_copy: Path):
    _pin(repo_copy, "sandbox", **{"breast-cancer": 3})
    _pin(repo_copy, "qa", **{"breast-cancer": 2, "diabetes-progression": 1})
    result = _validate(repo_copy)
    assert result.exit_code == 2
    assert "diabetes-progression is not pinned in environments/sandbox.yaml" in result.output
    # An older version than upstream pins is a rollback: allowed.
    qa = repo_copy / "environments" / "qa.yaml"
    qa.write_text(qa.read_text().replace("  diabetes-progression: 1\n", ""))
    assert _validate(repo_copy).exit_code == 0


def test_validate_is_the_required_check_and_runs_it():
    root = Path(__file__).resolve().parents[2]
    plan = (root / ".github" / "workflows" / "plan.yml").read_text()
    assert "      - run: mmeops validate\n" in plan
    docs = (root / "docs" / "workflows.md").read_text()
    required = next(ln for ln in docs.splitlines() if "Require the status checks" in ln)
    assert "`validate`" in required
