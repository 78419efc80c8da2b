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
from mmeops.schedule import batches, chosen_models, due_models

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
    "--batch-size",
    type=int,
    default=256,
    show_default=True,
    help="Models per batch in the batches output (a GitHub matrix holds at most 256 jobs).",
)
@click.pass_obj
def due_cmd(
    obj: dict,
    since: str | None,
    until: str | None,
    window: str,
    names: str | None,
    batch_size: int,
) -> None:
    """Print the JSON list of models whose `schedule` fired in the window.

    Also writes `models=<json>` and `batches=<json>` (lists of at most --batch-size models)
    to $GITHUB_OUTPUT for the workflow's matrices.

    Example:

    \b
        mmeops due --since 2026-11-22T03:00Z
        mmeops due --models "breast-cancer diabetes-progression"
    """
    if names is not None:
        chosen = re.split(r"[\s,]+", names.strip())
        _write_due(chosen_models(load_repo(obj["repo_root"]), chosen), batch_size)
        return
    end = _parse_time(until)
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
    _write_due(due_models(load_repo(obj["repo_root"]), start, end), batch_size)


def _write_due(models: list[str], batch_size: int) -> None:
    cut = batches(models, batch_size)
    click.echo(json.dumps(models))
    github.set_output("models", json.dumps(models))
    github.set_output("batches", json.dumps(cut, separators=(",", ":")))
    sys.stdout.flush()
