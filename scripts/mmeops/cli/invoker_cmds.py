"""`mmeops invoker ENV`: the front door of one environment, as a local HTTP server."""

from __future__ import annotations

from pathlib import Path

import click

from mmeops.cli import main
from mmeops.config.repo import load_repo


@main.command("invoker")
@click.argument("env")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--metrics",
    "metrics_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File the per-model metrics (CloudWatch EMF, one JSON line per call) are appended to "
    "[default: .mmeops/metrics/ENV.jsonl under the repository].",
)
@click.pass_obj
def invoker_cmd(obj: dict, env: str, host: str, port: int, metrics_path: Path | None) -> None:
    """Serve ENV's front door: call a model by name (docs/calling-a-model.md).

    POST /models/MODEL/invocations with text/csv rows (the manifest's column order) or
    application/json ({"instances": [[...]]} or {"records": [{...}]}); the answer is JSON
    naming the version that answered. The same code runs in Lambda behind a Function URL.

    Example:

        mmeops invoker prod --port 8090
    """
    from mmeops.invoker.server import InvokerServer, front_door_for

    repo = load_repo(obj["repo_root"])
    metrics_path = metrics_path or repo.root / ".mmeops" / "metrics" / f"{env}.jsonl"
    door = front_door_for(repo, env, metrics_path)
    server = InvokerServer(door, host, port)
    click.echo(f"front door of {env} on {server.url} (Ctrl-C to stop)")
    # Who it calls AWS as (under `mmeops stack up`: its Lambda role, infra/invoker.yaml).
    click.echo(f"  as {door.identity()}")
    server.serve_until_interrupted()
