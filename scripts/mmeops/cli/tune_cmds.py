"""`mmeops tune`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mmeops import github
from mmeops.cli import main
from mmeops.config.repo import load_repo

if TYPE_CHECKING:
    from mmeops.tune.run import Progress

# Kept here rather than imported from mmeops.tune.run, which loads xgboost and optuna (seconds).
BACKENDS = ("local", "sagemaker")


def _show_progress(p: Progress) -> None:
    best = "" if p.best_value is None else f", best {p.best_value:.6g}"
    click.echo(
        f"  trials: {p.completed} completed, {p.running} running, {p.failed} failed "
        f"of {p.total}{best}",
        err=True,
    )


def tuning_options(command):
    """--backend, --testing and --max-jobs: shared by `tune` and `retrain`."""
    options = [
        click.option(
            "--backend",
            type=click.Choice(BACKENDS),
            default="local",
            show_default=True,
            help="local: optuna over xgboost in-process; sagemaker: a SageMaker tuning job.",
        ),
        click.option(
            "--testing",
            is_flag=True,
            help="Run exactly one training job; the record is never a warm-start parent.",
        ),
        click.option(
            "--max-jobs",
            type=click.IntRange(min=1),
            metavar="N",
            help="Training jobs to run (default: tuning.max_jobs in model.yaml).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command("tune")
@click.argument("model")
@click.option("--dataset", metavar="RUN_ID", help="Dataset run id (default: the newest).")
@click.option(
    "--attach",
    metavar="JOB",
    help="Wait again for SageMaker tuning job JOB, which an earlier run started and did not "
    "see end (a runner restart, expired credentials), and record its result.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="With --backend sagemaker: if MODEL has a tuning job still InProgress in its history "
    "(a re-run after a runner died), wait for it instead of starting another.",
)
@click.option(
    "--kind",
    type=click.Choice(["retune", "recalibrate", "scheduled"]),
    default="retune",
    show_default=True,
    help="retune: a hyperparameter search; recalibrate: one training job with the champion's "
    "hyperparameters; scheduled: what model.yaml's `scheduled` says (recalibrate once a "
    "champion exists).",
)
@tuning_options
@click.pass_obj
def tune_cmd(
    obj: dict,
    model: str,
    dataset: str | None,
    attach: str | None,
    resume: bool,
    kind: str,
    backend: str,
    testing: bool,
    max_jobs: int | None,
) -> None:
    """Tune MODEL's hyperparameters, warm-started from its tuning history when compatible.

    Appends the job to tuning/MODEL/history.jsonl and writes the best model.tar.gz.

    Example:

        mmeops tune diabetes-progression --backend local --max-jobs 12

        mmeops tune diabetes-progression --attach diabetes-progr-261128030000-1a2b

        mmeops tune diabetes-progression --kind scheduled
    """
    repo = load_repo(obj["repo_root"])  # before the imports: a config error at once
    from mmeops.tune import recalibrate as recalibration
    from mmeops.tune import run as tune_mod

    recalibrate = kind == "recalibrate"
    if kind == "scheduled":
        recalibrate, why = recalibration.scheduled(repo, model)
        click.echo(why)
    if attach is not None:
        result = tune_mod.attach(repo, model, attach, progress=_show_progress)
    else:
        result = tune_mod.tune(
            repo,
            model,
            dataset=dataset,
            backend=backend,
            testing=testing,
            max_jobs=max_jobs,
            progress=_show_progress,
            resume=resume,
            recalibrate=recalibrate,
        )
    r = result.record
    click.echo(f"job: {r.job_name} ({r.backend}{', testing' if r.testing else ''})")
    click.echo(result.warm_start.reason)
    click.echo(f"trials: {r.n_training_jobs}")
    click.echo(f"best {r.eval_metric}: {r.best_value:.6g}")
    click.echo(f"artifact: {r.artifact_uri}")
    from mmeops.tune.sanity import saturated

    if warning := saturated(r.eval_metric, [t["value"] for t in r.trials]):
        click.echo(f"warning: {warning}")
    github.append_summary(tune_mod.summary_markdown(result))
