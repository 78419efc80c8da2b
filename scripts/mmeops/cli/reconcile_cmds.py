"""`mmeops reconcile` and `mmeops promote`."""

from __future__ import annotations

import click

from mmeops import outputs
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.deploy.promote import promote as promote_model
from mmeops.deploy.promote import promote_split
from mmeops.deploy.reconcile import reconcile as run_reconcile
from mmeops.deploy.render import COLUMNS, COMMENT_CHARS, as_json, markdown, rows
from mmeops.errors import DriftDetected, MmeopsError
from mmeops.gitinfo import deploy_check

_STYLE = {
    "synced": "green",
    "sync failed": "red",
    "out of sync": "yellow",
    "pruned": "cyan",
    "prune skipped": "magenta",
}


def _table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=report.summary(), title_justify="left")
    for c in COLUMNS:
        table.add_column(c)
    for row in rows(report):
        style = _STYLE.get(row[3], "")
        table.add_row(*row[:3], f"[{style}]{row[3]}[/]" if style else row[3], *row[4:])
    console = Console(width=max(Console().width, 120))
    console.print(table)
    for d in report.drift:
        console.print(f"drift: {d}", markup=False, highlight=False)
    if report.plan is not None and report.plan.capacity:
        warn = "warning: " if report.plan.over_capacity else ""
        console.print(warn + report.plan.capacity, markup=False, highlight=False)


@main.command()
@click.argument("env")
@click.option(
    "--plan",
    "mode",
    flag_value="plan",
    default=True,
    help="Show what apply would do (the default). Reads only.",
)
@click.option("--apply", "mode", flag_value="apply", help="Make the environment match its file.")
@click.option(
    "--check",
    "mode",
    flag_value="check",
    help="Exit 3 when live differs from the file, and say how. Reads only.",
)
@click.option("--prune", is_flag=True, help="Remove models no longer in the file.")
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Apply config files that differ from the commit (the manifest records that commit).",
)
@click.option(
    "--output",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="markdown for a pull request comment, json for machines.",
)
@click.option(
    "--comment",
    "comment_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the markdown report cut to fit a third of a GitHub comment (models "
    "with nothing to do counted, not listed; a cut says so) to this file.",
)
@click.pass_obj
def reconcile(
    obj: dict,
    env: str,
    mode: str,
    prune: bool,
    allow_dirty: bool,
    output: str,
    comment_file: str | None,
) -> None:
    """Make ENV's multi-model endpoint match environments/ENV.yaml.

    Exit 0 in sync or applied, 1 when a model failed to sync (its previous routing is kept)
    or another reconcile holds the lease, 2 for a file or registry problem (nothing mutated),
    3 when --check finds drift.

    Example:

    \b
        mmeops reconcile sandbox --plan
        mmeops reconcile prod --apply --output markdown
        mmeops reconcile qa --plan --output markdown --comment plan-qa.md
    """
    outputs.check_writable(comment_file, "--comment")
    if mode == "apply" and (warning := deploy_check(obj["repo_root"], allow_dirty)):
        click.echo(f"Warning: {warning}", err=True)
    repo = load_repo(obj["repo_root"])
    report = run_reconcile(repo, env, mode, prune=prune)
    notes: tuple[str, ...] = ()
    if report.promotions:  # numpy only when a canary is promoted
        from mmeops.monitor.canary import plan_notes

        notes = tuple(plan_notes(repo, env, report.promotions))
    if comment_file:
        outputs.write_text(comment_file, markdown(report, COMMENT_CHARS, notes))
    if output == "json":
        click.echo(as_json(report))
    elif output == "markdown":
        click.echo(markdown(report, notes=notes), nl=False)
    else:
        _table(report)
        if notes:
            click.echo("\n".join(notes).rstrip())
    if report.failed:
        names = ", ".join(r.model for r in report.failed)
        first = report.failed[0]  # the table may cut messages short: say the first in full
        raise MmeopsError(
            f"sync failed: {names}; previous routing kept for them ({first.model}: {first.message})"
        )
    if mode == "check" and report.drift:
        raise DriftDetected(f"{env}: {len(report.drift)} differences: {report.drift[0]}")


@main.command()
@click.argument("model")
@click.argument("version", type=int, required=False)
@click.option("--to", "env", required=True, help="Environment whose file pins the version.")
@click.option("--canary", type=int, help="Name this version the canary, beside the champion.")
@click.option("--weight", type=float, help="The canary's share of requests, percent (0-100).")
@click.option("--shadow", type=int, help="Name this version the shadow (answers not returned).")
@click.option("--sample", type=float, help="The share of requests mirrored to the shadow (0-1).")
@click.pass_obj
def promote(
    obj: dict,
    model: str,
    version: int | None,
    env: str,
    canary: int | None,
    weight: float | None,
    shadow: int | None,
    sample: float | None,
) -> None:
    """Pin MODEL at VERSION in environments/ENV.yaml (comments and order kept).

    Refuses (exit 2) an unknown model, a version that is not positive, one that the
    environment's promotion_from file does not pin yet, or one the registry does not have or
    has Rejected. When the registry cannot be reached it says so and edits the file anyway.
    With --canary V --weight W (or --shadow V --sample S) it names V beside the champion
    instead; promoting the canary's version later ends the canary.

    Example:

    \b
        mmeops promote diabetes-progression 3 --to qa
        mmeops promote breast-cancer --canary 8 --weight 10 --to prod
    """
    repo = load_repo(obj["repo_root"])
    split = _split_args(version, canary, weight, shadow, sample)
    if split is not None:
        role, v, share = split
        p = promote_split(repo, model, v, env, role, share)
        click.echo(p.registry_note)
        click.echo(f"{p.path}: {model} {role} v{v} ({share:g}{'%' if role == 'canary' else ''}); "
                   "commit it and open a pull request")  # fmt: skip
        return
    assert version is not None
    p = promote_model(repo, model, version, env)
    click.echo(p.registry_note)
    if p.changed:
        was = f"v{p.previous}" if p.previous is not None else "unpinned"
        click.echo(f"{p.path}: {model} {was} -> v{version}; commit it and open a pull request")
    else:
        click.echo(f"{p.path}: {model} already pinned at v{version}")


def _split_args(version, canary, weight, shadow, sample) -> tuple[str, int, float] | None:
    """("canary" | "shadow", version, share) from the options, or None for a champion pin."""
    given = [(r, v, s, k) for r, v, s, k in (("canary", canary, weight, "--weight"),
             ("shadow", shadow, sample, "--sample")) if v is not None or s is not None]  # fmt: skip
    if not given:
        if version is None:
            raise click.UsageError(
                "give VERSION, or --canary V --weight W, or --shadow V --sample S"
            )
        return None
    if version is not None or len(given) > 1:
        raise click.UsageError("give one of VERSION, --canary V --weight W, --shadow V --sample S")
    role, v, share, key = given[0]
    if v is None or share is None:
        raise click.UsageError(f"--{role} V needs {key}")
    if v < 1:
        raise click.BadParameter(f"--{role} must be a positive version, got {v}")
    return role, v, share
