"""`mmeops stack up | env | down` and `mmeops serve`."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from mmeops.cli import main
from mmeops.errors import UserError
from mmeops.stack import embedded as stack_mod


@main.group()
def stack() -> None:
    """The embedded stack: moto (AWS), a PostgreSQL warehouse and a local MME server.

    Example:

        mmeops stack up && eval "$(mmeops stack env)"
    """


@stack.command()
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for ready.")
@click.pass_obj
def up(obj: dict, timeout: float) -> None:
    """Start the embedded stack in the background and wait until it is ready.

    Its description (ports, pids, directories) goes to .mmeops/stack.json under the
    repository root; `mmeops stack env` prints the variables that point commands at it.

    Example:

        mmeops stack up
    """
    state = stack_mod.start_background(obj["repo_root"], timeout=timeout)
    click.echo(f"embedded stack up (pid {state['pid']})")
    click.echo(f"  AWS (moto):        {state['moto_url']}")
    click.echo(f"  SageMaker runtime: {state['mme_url']}")
    click.echo('  next: eval "$(mmeops stack env)"')


def _in_a_repository(root: str) -> None:
    """The stack's state lives under the repository: outside one, "no stack is running" was
    said while one ran (issue 27)."""
    if not (Path(root) / "mmeops.yaml").is_file():
        raise UserError(
            f"{root} is not in an mmeops repository (no mmeops.yaml at or above it), where the "
            "stack keeps its state: run this in the repository, or pass --repo (MMEOPS_REPO)"
        )


@stack.command()
@click.pass_obj
def env(obj: dict) -> None:
    """Print `export VAR=...` lines that point AWS clients and the warehouse at the stack.

    The output includes the throwaway warehouse's password (in MMEOPS_WAREHOUSE_DSN): it is
    meant for `eval`, not for logs.

    Example:

        eval "$(mmeops stack env)"
    """
    _in_a_repository(obj["repo_root"])
    state = stack_mod.read_state(obj["repo_root"])
    if state is None:
        raise click.ClickException("no embedded stack is running: `mmeops stack up` first")
    click.echo("unset " + " ".join(stack_mod.CLEARED_VARS))
    for name, value in state["env"].items():
        click.echo(f"export {name}={shlex.quote(value)}")


@stack.command()
@click.pass_obj
def down(obj: dict) -> None:
    """Stop the embedded stack and remove everything it made (processes, directories).

    Example:

        mmeops stack down
    """
    _in_a_repository(obj["repo_root"])
    if stack_mod.stop_background(obj["repo_root"]):
        click.echo("embedded stack stopped")
    else:
        click.echo("no embedded stack was running")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--cache-bytes",
    default=None,
    type=int,
    help="Memory bound of each endpoint's loaded models (default: what one instance of the "
    "endpoint's instance type holds, at one worker process per model).",
)
@click.option(
    "--recheck-seconds",
    default=5.0,
    show_default=True,
    help="How often a cached endpoint is described again (a new config empties its cache).",
)
@click.option(
    "--load-seconds",
    default=0.0,
    show_default=True,
    type=float,
    help="How long loading a model takes (a real XGBoost worker takes seconds); past the "
    "runtime's 60 s wait callers get ModelNotReadyException.",
)
@click.pass_obj
def serve(
    obj: dict,
    host: str,
    port: int,
    cache_bytes: int | None,
    recheck_seconds: float,
    load_seconds: float,
) -> None:
    """Run a local multi-model endpoint (SageMaker runtime protocol) in the foreground.

    It finds endpoints in the accounts the repository names, through whatever
    AWS_ENDPOINT_URL and credentials point at, and loads target models from their S3 prefix.
    Point clients at it with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://HOST:PORT.

    Example:

        mmeops serve --port 8080
    """
    from mmeops import aws
    from mmeops.stack.mme import MmeServer, MultiModelEndpoints

    endpoints = MultiModelEndpoints(
        stack_mod.known_accounts(obj["repo_root"]),
        lambda ref: aws.for_account(ref.account_id, ref.region, ref.role_arn),
        cache_bytes=cache_bytes,
        recheck_seconds=recheck_seconds,
        load_seconds=load_seconds,
    )
    server = MmeServer(endpoints, host=host, port=port)
    click.echo(f"serving the SageMaker runtime protocol on {server.url} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
