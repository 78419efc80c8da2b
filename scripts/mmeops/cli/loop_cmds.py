"""`mmeops invoke` and `mmeops due`."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

import click

from mmeops import github
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.errors import UserError
from mmeops.schedule.due import RUN_LIMIT, check_run_size, chosen_models, due_models

_WINDOW = re.compile(r"^([1-9][0-9]*)([mhd])$")


def _parse_time(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time like 2026-11-22T03:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@main.command("invoke")
@click.argument("env")
@click.argument("model")
@click.option(
    "--body",
    "body_file",
    type=click.File("rb"),
    required=True,
    help="CSV rows of features (no label); - reads standard input.",
)
@click.option(
    "--accept",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Ask the endpoint for text/csv or application/json.",
)
@click.pass_obj
def invoke_cmd(obj: dict, env: str, model: str, body_file, accept: str) -> None:
    """Invoke MODEL on ENV's endpoint through the routing manifest.

    Prints one prediction per line, then the version that answered (on stderr). Rows whose
    column count is not the model's (the manifest records it) are refused before the call:
    the endpoint itself would score a short row with missing values.

    Example:

        mmeops invoke prod diabetes-progression --body rows.csv
    """
    from mmeops.deploy.invoke import invoke

    result = invoke(
        load_repo(obj["repo_root"]),
        env,
        model,
        body_file.read(),
        source=None if body_file.name == "<stdin>" else body_file.name,
        accept=accept,
    )
    for prediction in result.predictions:
        click.echo(prediction)
    click.echo(f"answered by {model} v{result.version} ({result.target_model}) in {env}", err=True)


@main.command("due")
@click.option("--since", help="Start of the window, ISO 8601 (default: --window before --until).")
@click.option("--until", help="End of the window, ISO 8601 (default: now, UTC).")
@click.option(
    "--window",
    default="1h",
    show_default=True,
    help="Window length when --since is not given: N followed by m, h or d.",
)
@click.option(
    "--models",
    "names",
    help="Models to retrain instead, separated by spaces or commas (no schedule needed).",
)
@click.option(
    "--started",
    "use_records",
    is_flag=True,
    help="Decide by each model's started record in the training bucket (the scheduled "
    "workflow): its latest firing, once, never while a run holds it; the window then only "
    "bounds models never retrained on schedule.",
)
@click.pass_obj
def due_cmd(
    obj: dict,
    since: str | None,
    until: str | None,
    window: str,
    names: str | None,
    use_records: bool,
) -> None:
    """Print the JSON list of models to retrain now (at most 256, one run's matrix).

    Also writes `models=<json>` to $GITHUB_OUTPUT for the workflow's matrix. With --started,
    models beyond 256 stay due and the next run takes them, oldest firing first.

    Example:

    \b
        mmeops due --started --since 2026-11-22T03:00Z
        mmeops due --models "breast-cancer diabetes-progression"
    """
    repo = load_repo(obj["repo_root"])
    if names is not None:
        chosen = re.split(r"[\s,]+", names.strip())
        _write_due(check_run_size(chosen_models(repo, chosen)))
        return
    end = _parse_time(until)
    start = _window_start(since, window, end)
    if not use_records:
        _write_due(check_run_size(due_models(repo, start, end)))
        return
    from mmeops.extract.run import training_aws
    from mmeops.schedule import started

    aws, bucket = training_aws(repo), repo.settings.bucket
    rows = started.due_by_record(
        repo, lambda m: started.read(aws, bucket, m)[0], start, end, _parse_time(None)
    )
    due = [name for _, name, decision in rows if decision.due]
    lines = [f"- {name}: {'due' if d.due else 'not due'} ({d.reason})" for _, name, d in rows]
    if len(due) > RUN_LIMIT:
        lines.append(f"- {len(due) - RUN_LIMIT} more due: the next run takes them")
    click.echo("\n".join(lines), err=True)
    github.append_summary("\n".join(["### Retraining schedule", "", *lines]))
    _write_due(due[:RUN_LIMIT])


def _window_start(since: str | None, window: str, end: dt.datetime) -> dt.datetime:
    if since is None:
        match = _WINDOW.match(window)
        if not match:
            raise click.BadParameter(
                f"{window!r}: write N followed by m, h or d, e.g. 1h", param_hint="--window"
            )
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        try:
            start = end - dt.timedelta(**{unit: int(match.group(1))})
        except OverflowError:
            raise click.BadParameter(
                f"{window!r} reaches back before the year 1; give a shorter window",
                param_hint="--window",
            ) from None
    else:
        start = _parse_time(since)
    if start >= end:
        raise click.BadParameter("the window is empty: --since must be before --until")
    return start


def _write_due(models: list[str]) -> None:
    click.echo(json.dumps(models))
    github.set_output("models", json.dumps(models, separators=(",", ":")))
    sys.stdout.flush()


@main.command("started")
@click.argument("model")
@click.option("--run-id", required=True, help="The workflow run taking the firing.")
@click.option("--until", help="Take the latest firing of MODEL's schedule up to this time.")
@click.option(
    "--stage",
    type=click.Choice(["tuning", "finished"]),
    help="Move this run's record on instead: tuning before the tune, finished at the end.",
)
@click.pass_obj
def started_cmd(obj: dict, model: str, run_id: str, until: str | None, stage: str | None) -> None:
    """Take MODEL's latest firing for this run (a conditional put), or move its record on.

    Taking writes `claimed=true|false` to $GITHUB_OUTPUT and exits 0 either way: a firing
    that another run took, or that is not due, is skipped with the reason, not a failure.

    Example:

    \b
        mmeops started breast-cancer --run-id 123 --until 2026-11-22T04:07Z
        mmeops started breast-cancer --run-id 123 --stage tuning
    """
    from mmeops.extract.run import training_aws
    from mmeops.schedule import started

    if (until is None) == (stage is None):
        raise click.UsageError("give either --until (take the firing) or --stage (move on)")
    repo = load_repo(obj["repo_root"])
    cfg = repo.model(model)
    aws, bucket = training_aws(repo), repo.settings.bucket
    if stage is not None:
        record = started.advance(aws, bucket, model, run_id, stage)
        click.echo(f"{model}: {record.stage} for {record.firing:%Y-%m-%dT%H:%MZ} (run {run_id})")
        return
    if cfg.schedule is None:
        raise UserError(f"{model} has no schedule in its model.yaml: retrain it by hand")
    firing = started.latest_firing(cfg.schedule, _parse_time(until))
    try:
        record = started.claim(aws, bucket, model, firing, run_id, _parse_time(None))
    except started.NotClaimed as e:
        click.echo(f"{model}: not taken: {e}")
        github.set_output("claimed", "false")
        return
    click.echo(f"{model}: took {firing:%Y-%m-%dT%H:%MZ} (attempt {record.attempt}, run {run_id})")
    github.set_output("claimed", "true")
