"""`mmeops affected` and `mmeops undeployed` (the plan and deploy workflows' choice of
environments) and `mmeops rolling` (the one retrain pull request)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from mmeops import github
from mmeops.cli import main
from mmeops.config.affected import affected_environments, deploy_needed
from mmeops.config.repo import load_repo
from mmeops.errors import UserError
from mmeops.gitinfo import changed_paths
from mmeops.outputs import check_writable, write_text

_SHA = re.compile(r"[0-9a-f]{4,64}")


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


@main.command("undeployed")
@click.option(
    "--deployed",
    "deployed",
    multiple=True,
    metavar="ENV=SHA",
    help="The commit ENV's last successful deployment applied (empty: none yet). Repeat "
    "for each environment; one not given counts as never deployed.",
)
@click.option("--head", default="HEAD", show_default=True, help="The commit to deploy.")
@click.pass_obj
def undeployed_cmd(obj: dict, deployed: tuple[str, ...], head: str) -> None:
    """Print the JSON list of environments whose file, models/ or mmeops.yaml differ from what
    their last successful deployment applied.

    A change that a failed or cancelled deploy missed is still there at the next run, so it is
    applied then. Also writes ENV=true|false for every environment to $GITHUB_OUTPUT.

    Example:

        mmeops undeployed --deployed sandbox=3f2c1e0 --deployed qa=3f2c1e0 --deployed prod=
    """
    repo = load_repo(obj["repo_root"])
    shas = {}
    for item in deployed:
        env, sep, sha = item.partition("=")
        if not sep or env not in repo.envs or not _SHA.fullmatch(sha.strip() or "0000"):
            raise click.BadParameter(
                f"{item!r}: write ENV=SHA (a hex commit id, or nothing) with ENV one of "
                f"{', '.join(sorted(repo.envs))}",
                param_hint="--deployed",
            )
        shas[env] = sha.strip()
    chosen = []
    for env in sorted(repo.envs):
        sha = shas.get(env, "")
        changed = changed_paths(repo.root, sha, head) if sha else None
        if changed is None:
            why = "no successful deployment recorded" if not sha else f"{sha[:12]} is not here"
            run = True
        else:
            run = deploy_needed(env, changed)
            why = f"{'changed' if run else 'unchanged'} since {sha[:12]}"
        click.echo(f"{env}: {'apply' if run else 'nothing to apply'} ({why})", err=True)
        github.set_output(env, "true" if run else "false")
        github.append_summary(f"- {env}: {run} ({why})")
        if run:
            chosen.append(env)
    click.echo(json.dumps(chosen))


def _read_optional(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None


@main.command("rolling")
@click.option("--to", "env", required=True, help="Environment whose file pins the versions.")
@click.option(
    "--pins-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="This run's MODEL.version files, with MODEL.kind (retuned|recalibrated) and MODEL.md.",
)
@click.option("--previous-file", help="ENV's file as the open rolling pull request has it.")
@click.option("--previous-body", help="The open rolling pull request's body.")
@click.option("--note", "note_file", help="Markdown put at the top of each new model's section.")
@click.option("--body-out", required=True, help="Write the pull request body here.")
@click.pass_obj
def rolling_cmd(
    obj: dict,
    env: str,
    pins_dir: str,
    previous_file: str | None,
    previous_body: str | None,
    note_file: str | None,
    body_out: str,
) -> None:
    """Rebuild the rolling retrain pull request (branch mmeops/retrain-ENV) on this checkout:
    pin the versions it still carries and this run's in environments/ENV.yaml, and write its
    body, a `Kind:` line per model first.

    Example:

        mmeops rolling --to sandbox --pins-dir retrained/ --body-out body.md
    """
    from mmeops.deploy.rolling import roll

    check_writable(body_out, "--body-out")
    if not Path(pins_dir).is_dir():
        raise UserError(
            f"--pins-dir {pins_dir} is not a folder; pass the retrain artifacts' folder"
        )
    done, text = roll(
        load_repo(obj["repo_root"]),
        env,
        Path(pins_dir),
        _read_optional(previous_file),
        _read_optional(previous_body),
        _read_optional(note_file),
    )
    write_text(body_out, text)
    for p in done:
        click.echo(f"{p.model} v{p.version}" + ("" if p.changed else " (already pinned)"))
