"""`mmeops new`: start a model from a warehouse table."""

from __future__ import annotations

import click

from mmeops.cli import main
from mmeops.config.repo import load_repo


@main.command("new")
@click.argument("model")
@click.option("--table", required=True, metavar="SCHEMA.TABLE", help="The warehouse table.")
@click.option("--target", required=True, metavar="COLUMN", help="The label column.")
@click.option(
    "--problem",
    type=click.Choice(["binary", "regression"]),
    help="Default: binary when the target holds only 0 and 1, else regression.",
)
@click.option(
    "--time-column",
    metavar="COLUMN",
    help="Date or timestamp column for the window and the split (default: the first one).",
)
@click.pass_obj
def new_cmd(
    obj: dict, model: str, table: str, target: str, problem: str | None, time_column: str | None
) -> None:
    """Write models/MODEL/ (model.yaml and query.sql) from TABLE's own columns, and validate it.

    Numeric columns become features; the others are listed as left out, with the reason. The
    window covers the table's rows; validation and test are its newest rows by the time
    column; tuning and the gate are the templates'. Nothing is written when anything fails.

    Example:

        mmeops new wine-quality --table public.wine --target is_red
    """
    from mmeops.extract.scaffold import scaffold

    s = scaffold(
        load_repo(obj["repo_root"]), model, table, target, problem=problem, time_column=time_column
    )
    click.echo(f"wrote {s.folder}/model.yaml and {s.folder}/query.sql ({s.problem})")
    click.echo(f"  window: from {s.start} ({s.rows} rows up to {s.last}); split on {s.time_column}")
    click.echo(f"  features ({len(s.features)}): {', '.join(s.features)}")
    for name, reason in s.left_out:
        click.echo(f"  left out {name}: {reason}")
    click.echo(f"valid. Next: mmeops retrain {s.model}")
