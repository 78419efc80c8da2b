"""`mmeops stack up | env | down` and `mmeops serve`.

`stack up` also starts one front door per environment (`mmeops invoker ENV`, a process each,
recorded in .mmeops/invokers.json): the embedded world itself does not import the invoker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
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
    for env_name, door in _start_invokers(obj["repo_root"], state, timeout).items():
        click.echo(f"  front door {env_name}: {door['url']}")
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
    for env_name, door in _read_invokers(obj["repo_root"]).items():
        click.echo(f"export {invoker_var(env_name)}={shlex.quote(door['url'])}")


@stack.command()
@click.pass_obj
def down(obj: dict) -> None:
    """Stop the embedded stack and remove everything it made (processes, directories).

    Example:

        mmeops stack down
    """
    _in_a_repository(obj["repo_root"])
    _stop_invokers(obj["repo_root"])
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
    server.serve_until_interrupted()


# --- the front doors `stack up` starts --------------------------------------------------------

INVOKERS_FILE = "invokers.json"
_URL = re.compile(r" on (http://\S+) ")


def invoker_var(env_name: str) -> str:
    """`MMEOPS_INVOKER_URL_PROD`: the variable naming an environment's front door."""
    return "MMEOPS_INVOKER_URL_" + re.sub(r"[^A-Za-z0-9]", "_", env_name).upper()


def _invokers_path(repo_root: str) -> Path:
    return stack_mod.state_path(repo_root).parent / INVOKERS_FILE


def _start_invokers(repo_root: str, state: dict, timeout: float) -> dict:
    """One `mmeops invoker ENV --port 0` per environment, pointed at the stack and running
    under the credentials the stack issued to that environment's front door role (as Lambda
    runs the function under infra/invoker.yaml's role); each prints its address first (into
    its log), which is read back here."""
    from mmeops.config.repo import load_repo

    base = {k: v for k, v in os.environ.items() if k not in stack_mod.CLEARED_VARS}
    base.update(state["env"])
    started, waiting = {}, {}
    folder = _invokers_path(repo_root).parent
    for name in sorted(load_repo(repo_root).envs):
        creds = state["invoker_credentials"][name]
        env = {
            **base,
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
        log = folder / f"invoker-{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from mmeops.cli import main; main()",
                 "--repo", str(repo_root), "invoker", name, "--port", "0"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        waiting[name] = (proc, log)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for name, (proc, log) in list(waiting.items()):
            found = _URL.search(log.read_text(errors="replace"))
            if found or proc.poll() is not None:
                del waiting[name]
                if found:
                    started[name] = {"pid": proc.pid, "url": found.group(1)}
                else:
                    click.echo(f"  front door {name} did not start: see {log}", err=True)
        time.sleep(0.05)
    _invokers_path(repo_root).write_text(json.dumps(started, indent=2))
    return started


def _read_invokers(repo_root: str) -> dict:
    try:
        return json.loads(_invokers_path(repo_root).read_text())
    except (OSError, ValueError):
        return {}


def _stop_invokers(repo_root: str) -> None:
    """SIGTERM each front door this stack started (checked by its command line, so a pid the
    system gave to another process since is left alone), then forget them."""
    stopped = [d["pid"] for d in _read_invokers(repo_root).values() if _is_invoker(d.get("pid"))]
    for pid in stopped:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_is_invoker(pid) for pid in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    folder = _invokers_path(repo_root).parent
    for path in [_invokers_path(repo_root), *folder.glob("invoker-*.log")]:
        path.unlink(missing_ok=True)
    # Their metrics files (`mmeops invoker`'s default --metrics): the stack made them.
    for path in folder.glob("metrics/*.jsonl"):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (folder / "metrics").rmdir()


def _is_invoker(pid: object) -> bool:
    try:
        return b"invoker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
