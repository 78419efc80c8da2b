"""`mmeops register` and `mmeops retrain`."""

from __future__ import annotations

from pathlib import Path

import click

from .. import github
from ..errors import GateFailed
from ..register import Registration, evaluation_history, register
from ..repo import load_repo
from ..report import render
from . import main


def _print_result(result: Registration, report: str, report_file: str | None) -> None:
    for name, value in result.metrics.items():
        champion = result.champion.metrics.get(name) if result.champion else None
        versus = (
            f"  (champion v{result.champion.version}: {champion:.6g})"
            if champion is not None
            else ""
        )
        click.echo(f"  {name:12} {value:.6g}{versus}")
    click.echo(result.verdict.summary())
    if report_file:
        Path(report_file).write_text(report, encoding="utf-8")
    github.append_summary(report)


def run_register(
    repo_root: str, model: str, tuning_job: str | None, report_file: str | None
) -> Registration:
    repo = load_repo(repo_root)
    result = register(repo, model, tuning_job)
    report = render(result, repo.model(model).gate.bound, evaluation_history(repo, model))
    _print_result(result, report, report_file)
    if result.version is None:
        raise GateFailed(result.verdict.summary())
    click.echo(
        f"registered {model} version {result.version} ({result.package_arn}), PendingManualApproval"
    )
    github.set_output("version", str(result.version))
    return result


@main.command("register")
@click.argument("model")
@click.option("--tuning-job", help="Tuning job to register (default: the latest of MODEL).")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help="Also write the markdown report to this file (a pull request body).",
)
@click.pass_obj
def register_cmd(obj: dict, model: str, tuning_job: str | None, report_file: str | None) -> None:
    """Evaluate the best tuned model, gate it against the champion, register it.

    The champion (the version pinned in the champion environment) is scored on the same new
    test set. A failed gate registers nothing and exits 3. Prints the new version and writes
    `version=N` to $GITHUB_OUTPUT when set.

    Example:

        mmeops register diabetes-progression --report report.md
    """
    run_register(obj["repo_root"], model, tuning_job, report_file)
