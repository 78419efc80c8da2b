"""`mmeops demo`."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.table import Table

from mmeops.cli import main


@main.command("demo")
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Tuning trials per retrain (default: each model's tuning.max_jobs).",
)
@click.option(
    "--backend",
    type=click.Choice(("sagemaker", "local")),
    default="sagemaker",
    show_default=True,
    help="sagemaker: the production path, SageMaker tuning jobs the embedded stack runs; "
    "local: optuna over xgboost in-process.",
)
@click.pass_obj
def demo_cmd(obj: dict, max_jobs: int | None, backend: str) -> None:
    """Run the whole GitOps loop on the embedded stack, verifying every step.

    Retrain → pin in sandbox → promote to qa and prod → new data → warm-started retrain →
    promote v2 → git revert in prod → v1 answers again. Nothing outside a temporary
    directory and the embedded stack is touched; both are removed at the end.

    Example:

        mmeops demo
    """
    from mmeops.demo.run import run_demo  # imports every stage: only when the demo runs

    console = Console(highlight=False)
    start = time.monotonic()
    servers: list = []
    try:
        result = run_demo(
            obj["repo_root"],
            lambda line: console.print(line, markup=False),
            max_jobs=max_jobs,
            backend=backend,
            start_front_door=lambda root, env: start_front_door(root, env, servers),
        )
    finally:
        for server in servers:
            server.stop()
    served = Table(title="What each environment serves at the end")
    for column in ("environment", "model", "version served", "sample prediction"):
        served.add_column(column)
    for s in result.served:
        served.add_row(s.env, s.model, f"v{s.version}", s.prediction)
    steps = Table(title="Steps")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    for name, seconds in result.steps:
        steps.add_row(name, f"{seconds:.1f}")
    console.print()
    console.print(served)
    console.print(steps)
    console.print(f"demo verified every step in {time.monotonic() - start:.0f} s")


def start_front_door(root, env: str, servers: list):
    """The demo's front door: mmeops.invoker's server on a free port (the demo itself may not
    import the invoker), and a flush that writes out its pending capture."""
    from mmeops.config.repo import load_repo
    from mmeops.demo.front_door import FrontDoorHandle
    from mmeops.invoker.server import InvokerServer, front_door_for

    repo = load_repo(root)
    door = front_door_for(repo, env, aws=_as_its_lambda(repo, env))
    server = InvokerServer(door)
    servers.append(server)

    def flush() -> None:
        door.sidecar.drain(30)
        if door.capture is not None:
            door.capture.flush()

    return FrontDoorHandle(server.start(), flush, server.stop)


def _as_its_lambda(repo, env: str):
    """The front door's own role (infra/invoker.yaml's, as `mmeops stack up` runs it) when the
    embedded stack runs in this process, as the demo's does; else None (ambient credentials)."""
    from mmeops.stack.embedded import EmbeddedStack

    stack = EmbeddedStack.current
    if stack is None:
        return None
    e = repo.envs[env]
    return stack.lambda_aws(e.account_id, env, e.region)
