"""`mmeops routes`: what a client calls, per model, in one environment."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from mmeops.cli import main
from mmeops.config.repo import load_repo


@main.command("routes")
@click.argument("env")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: one object a client's build can read.",
)
@click.pass_obj
def routes_cmd(obj: dict, env: str, fmt: str) -> None:
    """List each model ENV serves: its TargetModel, version and feature order.

    Read from the live routing manifest (what the endpoint serves now). Send the features as
    CSV in this order, without the label (docs/calling-a-model.md).

    Example:

        mmeops routes prod --format json
    """
    from mmeops.deploy.routes import routes

    r = routes(load_repo(obj["repo_root"]), env)
    if fmt == "json":
        click.echo(json.dumps(asdict(r), indent=2))
        return
    click.echo(f"endpoint {r.endpoint} ({r.region})")
    if not r.routes:
        click.echo("no models routed")
    for route in r.routes:
        names = ", ".join(route.feature_names) if route.feature_names else "unknown"
        click.echo(f"{route.model}  v{route.version}  TargetModel={route.target_model}")
        click.echo(f"  features ({route.source}): {names}")
        if route.split:
            click.echo(f"  split (the front door, `mmeops invoker {env}`): {route.split}")
