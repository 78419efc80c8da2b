"""`mmeops register` and `mmeops retrain`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mmeops import github, outputs
from mmeops.cli import main
from mmeops.cli.extract_cmds import window_options
from mmeops.cli.tune_cmds import tuning_options
from mmeops.config.repo import Repo, load_repo
from mmeops.errors import GateFailed

if TYPE_CHECKING:
    from mmeops.register.run import Registration

# The stages import xgboost, scikit-learn and optuna (seconds): imported when a command runs,
# so `mmeops --help` and the light commands start at once.


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
    for warning in result.verdict.warnings:
        click.echo(f"warning: {warning}")
    if report_file:
        outputs.write_text(report_file, report)
    github.append_summary(report)


def _finish(repo: Repo, reg: Registration, report_file: str | None) -> None:
    """Print the verdict and report; exit 3 on a failed gate, else publish the version."""
    from mmeops.register.report import render
    from mmeops.register.run import evaluation_history

    report = render(reg, repo.model(reg.model).gate.bound, evaluation_history(repo, reg.model))
    _print_result(reg, report, report_file)
    if reg.version is None:
        raise GateFailed(reg.verdict.summary())
    click.echo(
        f"registered {reg.model} version {reg.version} ({reg.package_arn}), PendingManualApproval"
    )
    github.set_output("version", str(reg.version))


# Shared by `register` and `retrain`.
report_option = click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help="Also write the markdown evaluation report to this file (a pull request body).",
)


@main.command("register")
@click.argument("model")
@click.option("--tuning-job", help="Tuning job to register (default: the latest of MODEL).")
@report_option
@click.pass_obj
def register_cmd(obj: dict, model: str, tuning_job: str | None, report_file: str | None) -> None:
    """Evaluate the best tuned model, gate it against the champion, register it.

    The champion (the version pinned in the champion environment) is scored on the same new
    test set. A failed gate registers nothing and exits 3. Prints the new version and writes
    `version=N` to $GITHUB_OUTPUT when set.

    Example:

        mmeops register diabetes-progression --report report.md
    """
    repo = load_repo(obj["repo_root"])  # before the import: a config error in 2 s, not 15
    from mmeops.register.run import register

    outputs.check_writable(report_file, "--report")
    _finish(repo, register(repo, model, tuning_job), report_file)


@main.command("retrain")
@click.argument("model")
@tuning_options
@window_options
@report_option
@click.option(
    "--recalibrate",
    is_flag=True,
    help="Train once with the hyperparameters the champion environment serves (no search).",
)
@click.pass_obj
def retrain_cmd(
    obj: dict,
    model: str,
    testing: bool,
    backend: str,
    max_jobs: int | None,
    start,
    end,
    report_file: str | None,
    recalibrate: bool,
) -> None:
    """Extract, tune and register MODEL, then print one summary of all three.

    With --recalibrate, the tuning step is one training job with the hyperparameters of the
    version the champion environment serves; the report says which kind of change it was.

    Exits 3 when the gate fails (nothing registered); writes `version=N` to $GITHUB_OUTPUT.

    Example:

        mmeops retrain breast-cancer --backend local

        mmeops retrain breast-cancer --backend local --recalibrate
    """
    # The repository first, as `validate` does: importing the three stages (xgboost, optuna,
    # sklearn, sagemaker-core) took 10-15 s on a loaded runner before a config error showed.
    repo = load_repo(obj["repo_root"])
    from mmeops.retrain import retrain

    outputs.check_writable(report_file, "--report")
    r = retrain(
        repo,
        model,
        testing=testing,
        backend=backend,
        max_jobs=max_jobs,
        start=start.date() if start else None,
        end=end.date() if end else None,
        recalibrate=recalibrate,
        announce=lambda line: click.echo(f"plan:     {line}"),
    )
    ex, tuned, reg = r.extract, r.tune.record, r.registration
    split = " / ".join(f"{name} {rows}" for name, rows in ex.rows.items())
    click.echo(f"extract:  {ex.total_rows} rows ({split}) in {ex.seconds:.1f} s → {ex.uri}")
    click.echo(
        f"tune:     {tuned.job_name}: {r.tune.warm_start.reason}; "
        f"{tuned.n_training_jobs} trials, best {tuned.eval_metric} {tuned.best_value:.6g}"
    )
    _finish(repo, reg, report_file)
