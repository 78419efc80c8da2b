"""`mmeops extract`: the warehouse → a versioned dataset in S3."""

from __future__ import annotations

import datetime as dt
import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING

import click

from mmeops import outputs
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.github import append_summary, set_output

if TYPE_CHECKING:  # the stage is imported when the command runs, not at CLI startup
    from mmeops.extract.run import ExtractResult

SPLITS = ("train", "validation", "test")


def _progress():
    """A byte counter on a terminal (rich), nothing otherwise (logs stay clean)."""
    if not sys.stdout.isatty():
        return nullcontext(None)
    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TransferSpeedColumn

    return Progress(
        SpinnerColumn(),
        "[progress.description]{task.description}",
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    )


def _summary_markdown(model: str, r: ExtractResult) -> str:
    rows = "\n".join(f"| {s} | {r.rows[s]:,} | {r.bytes[s + '.csv']:,} |" for s in SPLITS)
    return (
        f"### ✅ extract {model}: {r.total_rows:,} rows\n\n"
        f"Dataset `{r.uri}` (window {r.window.start} to {r.window.end}), "
        f"{r.seconds:.1f} s\n\n<details><summary>Splits</summary>\n\n"
        f"| split | rows | bytes |\n|---|---:|---:|\n{rows}\n\n"
        f"dataset sha256 `{r.dataset_sha256}`\n\n</details>"
    )


def window_options(command):
    """--start and --end, the data window: shared by `extract` and `retrain`."""
    command = click.option(
        "--end",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        help="Day after the window (exclusive; default: today minus window.lag_days).",
    )(command)
    return click.option(
        "--start",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        help="First day of the window (default: window.start in model.yaml).",
    )(command)


@main.command()
@click.argument("model")
@window_options
@click.option("--run-id", default=None, help="Dataset run id (default: a new time-sorted one).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the local files here (default: a temp dir, removed afterwards).",
)
@click.pass_obj
def extract(
    obj: dict,
    model: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    run_id: str | None,
    out_dir: str | None,
) -> None:
    """Extract MODEL's data from the warehouse into a new dataset in S3.

    Runs models/MODEL/query.sql for the window (bound as %(start_date)s and %(end_date)s),
    keeps the raw result, writes train/validation/test CSV for the XGBoost container and
    uploads them with lineage.json to s3://BUCKET/datasets/MODEL/RUN_ID/.

    Example:

        mmeops extract diabetes-progression --start 2025-01-01 --end 2026-01-01
    """
    repo = load_repo(obj["repo_root"])  # before the import: a config error at once
    from mmeops.extract import run as extract_mod

    outputs.check_folder(out_dir, "--out")
    with _progress() as bar:
        task = bar.add_task(f"extract {model}", total=None) if bar else None
        result = extract_mod.extract(
            repo, model,
            start=start.date() if start else None, end=end.date() if end else None,
            run_id=run_id, out_dir=out_dir,
            progress=(lambda n: bar.update(task, completed=n)) if bar else None,
        )  # fmt: skip
    rate = result.total_rows / result.seconds if result.seconds else 0.0
    splits = ", ".join(f"{s} {result.rows[s]:,}" for s in SPLITS)
    click.echo(
        f"extracted {model}: {result.total_rows:,} rows ({splits}) "
        f"in {result.seconds:.1f} s, {rate:,.0f} rows/s"
    )
    click.echo(f"dataset {result.run_id}: {result.uri}")
    append_summary(_summary_markdown(model, result))
    set_output("run_id", result.run_id)
