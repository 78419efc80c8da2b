"""`mmeops canary ENV MODEL`: the canary's and the shadow's verdicts, from capture."""

from __future__ import annotations

import click

from mmeops.cli import main
from mmeops.config.repo import load_repo

EXIT = {"pass": 0, "fail": 3, "not enough data": 4}


@main.command("canary")
@click.argument("env")
@click.argument("model")
@click.option(
    "--min-requests",
    default=100,
    show_default=True,
    type=click.IntRange(1),
    help="Captured requests each compared set needs before a verdict.",
)
@click.pass_context
def canary_cmd(ctx: click.Context, env: str, model: str, min_requests: int) -> None:
    """Compare MODEL's canary and shadow with its champion in ENV, from the front door's
    capture: error rate, p99 latency, prediction distribution, shadow agreement.

    Exit 0 pass, 3 fail, 4 not enough data (set `capture` in the environment file and send
    traffic through `mmeops invoker ENV`).

    Example:

        mmeops canary prod breast-cancer
    """
    from mmeops.monitor.canary import canary_report, lines

    report = canary_report(load_repo(ctx.obj["repo_root"]), env, model, min_requests)
    click.echo("\n".join(lines(report)))
    ctx.exit(EXIT[report.verdict])
