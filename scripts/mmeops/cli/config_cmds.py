"""`mmeops validate` and `mmeops schema`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mmeops.cli import main
from mmeops.config.advice import warnings
from mmeops.config.repo import load_repo
from mmeops.config.schema import write_schemas
from mmeops.errors import ConfigErrors, UserError


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _annotation(problem: UserError, level: str = "error") -> str:
    # GitHub's workflow command: shows the message on the file and line in the pull request.
    # Both parts are escaped: a file name is input too, and a raw line break or `::` in it
    # would let a pull request's folder name inject its own workflow commands.
    file = _escape(problem.path or "").replace(":", "%3A").replace(",", "%2C")
    where = f"file={file}" + (f",line={problem.line}" if problem.line else "")
    message = _escape(problem.message)
    return f"::{level} {where}::{message}"


@main.command()
@click.pass_obj
def validate(obj: dict) -> None:
    """Check mmeops.yaml, every model and every environment file.

    Exit 0 when all are valid; otherwise exit 2 with one `path:line: problem` line each
    (and GitHub annotations when GITHUB_ACTIONS=true). Valid settings worth changing (no
    kms_key_id) print a `warning:` line and still exit 0. Reads no AWS state.

    Example:

        mmeops validate
    """
    try:
        repo = load_repo(obj["repo_root"])
    except ConfigErrors as e:
        for problem in e.problems:
            click.echo(problem.format(), err=True)
            if os.environ.get("GITHUB_ACTIONS") == "true":
                click.echo(_annotation(problem))
        raise SystemExit(2) from None
    for warning in warnings(repo):
        click.echo(f"warning: {warning.format()}", err=True)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            click.echo(_annotation(warning, "warning"))
    click.echo(f"valid: mmeops.yaml, {len(repo.models)} models, {len(repo.envs)} environments")


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="schemas",
    show_default=True,
    help="Directory to write the JSON Schemas into.",
)
def schema(out_dir: str) -> None:
    """Write JSON Schemas of mmeops.yaml, model.yaml and environment files.

    Example:

        mmeops schema --out schemas
    """
    for path in write_schemas(Path(out_dir)):
        click.echo(f"wrote {path}")
