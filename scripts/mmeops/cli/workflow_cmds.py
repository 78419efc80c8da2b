"""`mmeops affected`: the plan workflow's choice of environments."""

from __future__ import annotations

import json

import click

from mmeops import github
from mmeops.cli import main
from mmeops.config.affected import affected_environments
from mmeops.config.repo import load_repo
from mmeops.errors import UserError


@main.command("affected")
@click.option(
    "--changed",
    "changed_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="File listing the changed paths, one a line (git diff --name-only); - reads stdin.",
)
@click.pass_obj
def affected_cmd(obj: dict, changed_file: str) -> None:
    """Print the JSON list of environments whose plan the changed paths can alter.

    An environment is affected by its own file, by the files up its promotion_from chain and
    by any model or mmeops.yaml. Also writes ENV=true|false for every environment to
    $GITHUB_OUTPUT.

    Example:

        git diff --name-only origin/main... | mmeops affected
    """
    repo = load_repo(obj["repo_root"])
    try:
        # Git paths are bytes: one that is not UTF-8 still names its folder (models/X/...).
        with click.open_file(changed_file, encoding="utf-8", errors="surrogateescape") as f:
            changed = f.read().splitlines()
    except OSError as e:
        raise UserError(f"cannot read the changed paths: {e.strerror}", changed_file) from None
    except ValueError:  # a NUL byte in the name: no file has one
        raise UserError("cannot read the changed paths: a NUL byte in the file name") from None
    affected = affected_environments(repo, changed)
    click.echo(json.dumps(affected))
    for name in sorted(repo.envs):
        github.set_output(name, "true" if name in affected else "false")
