"""Issue 17: one broken file yields one error, on that file, not a second misleading one about
the files that name it."""

from __future__ import annotations

from click.testing import CliRunner

from mmeops.cli import main


def one_error(root) -> str:
    """`mmeops validate`'s only line; fails the test when there are more."""
    result = CliRunner().invoke(main, ["--repo", str(root), "validate"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_broken_environment_file_is_one_error_not_also_a_missing_champion(repo_copy):
    prod = repo_copy / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("name: prod", "name: [prod"))
    line = one_error(repo_copy)
    assert line.startswith("environments/prod.yaml:")
    assert "has no file" not in line


def test_a_broken_model_file_is_one_error_not_also_an_unknown_pinned_model(repo_copy):
    sandbox = repo_copy / "environments" / "sandbox.yaml"
    sandbox.write_text(sandbox.read_text().replace("models: {}", "models:\n  breast-cancer: 1"))
    model = repo_copy / "models" / "breast-cancer" / "model.yaml"
    model.write_text(model.read_text().replace("problem: binary", "problem: multiclass"))
    assert one_error(repo_copy).startswith("models/breast-cancer/model.yaml:")
