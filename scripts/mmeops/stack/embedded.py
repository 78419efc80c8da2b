"""The embedded stack: moto (AWS), a throwaway PostgreSQL warehouse and a local MME server.

    with EmbeddedStack(repo_root) as s:
        s.apply_env()          # product code now reaches the stack through AWS_ENDPOINT_URL*
        ...

Accounts come from the repository (mmeops.yaml's training account, one per environment file)
and are reached, as in production, through sts.assume_role from the runner's identity. Each
bucket is created by its own account and versioned. One stack per process: moto's state is
process-global.

`python -m mmeops.stack --repo ROOT --state FILE` runs a stack until SIGTERM and describes it
in FILE (what `mmeops stack up` starts in the background).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from mmeops.errors import MmeopsError, UserError
from mmeops.waiting import POLL_SCALE_ENV

if TYPE_CHECKING:
    from mmeops.aws import Aws
    from mmeops.stack.iam import service
    from mmeops.stack.mme import AccountRef, MultiModelEndpoints, Route

REGION = "us-east-1"
DEFAULT_DSN_ENV = "MMEOPS_WAREHOUSE_DSN"
# Variables that would send the stack's keys with someone else's session or profile.
CLEARED_VARS = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


class StackError(MmeopsError):
    """The background stack did not start or stop."""


def known_accounts(repo_root: str | Path) -> list[AccountRef]:
    """Every account the repository names: its environments first, then training."""
    from mmeops.config.repo import load_repo

    return _accounts(load_repo(repo_root))


def _accounts(repo) -> list[AccountRef]:
    from mmeops.stack.mme import AccountRef

    refs = [AccountRef(e.account_id, e.region, e.role_arn) for e in repo.envs.values()]
    t = repo.settings.training
    refs.append(AccountRef(t.account_id, t.region, t.role_arn))
    return list(dict.fromkeys(refs))


class EmbeddedStack:
    """Starts everything on enter, stops everything and removes every temp dir on exit."""

    current: EmbeddedStack | None = None  # the stack running in this process (one at most)

    def __init__(
        self,
        repo_root: str | Path = ".",
        cache_bytes: int | None = None,
        demo_rows: bool = True,
    ):
        self.repo_root = Path(repo_root).resolve()
        self.cache_bytes = cache_bytes
        self.demo_rows = demo_rows
        self.env: dict[str, str] = {}
        self.dsn = self.moto_url = self.mme_url = ""
        self.endpoints: MultiModelEndpoints | None = None
        self.pg = None
        self._exit = contextlib.ExitStack()
        self._sessions: dict[str, Aws] = {}
        self._sessions_lock = threading.Lock()
        self._saved_env: dict[str, str | None] | None = None
        self.world = None

    # -- sessions on this stack, independent of os.environ
    def aws_for(self, ref: AccountRef) -> Aws:
        """AWS as the stack's administrator sees `ref`'s account (seeding, inspecting, the
        local endpoint describing its endpoints as SageMaker's control plane would; it reads
        target models as their execution role, `execution_role_reader`): never the product's
        roles, whose policies IAM enforcement checks (stack/iam/)."""
        return self.admin(ref.account_id, ref.region)

    def admin(self, account_id: str, region: str = REGION) -> Aws:
        """The stack's admin identity in `account_id`: for what a test or the demo needs and
        the product may not do (seeding state); the product's roles are never widened."""
        with self._sessions_lock:
            if account_id not in self._sessions:
                from mmeops.stack.moto_server import admin_aws

                self._sessions[account_id] = admin_aws(self.moto_url, account_id, region)
            return self._sessions[account_id]

    def lambda_credentials(self, account_id: str, env_name: str, region: str = REGION) -> dict:
        """The front door's credentials in one environment, as Lambda hands them to its
        function: infra/invoker.yaml's role, assumed by lambda.amazonaws.com for the function
        `mmeops-invoker-ENV` (stack/iam/service.py judges the role's trust)."""
        from mmeops.stack.iam import service

        name = f"mmeops-invoker-{env_name}"
        return service.assume(
            self.admin(account_id, region),
            self.world.invoker_role(account_id, env_name),
            "lambda.amazonaws.com",
            f"arn:aws:lambda:{region}:{account_id}:function:{name}",
            name,
        )

    def lambda_aws(self, account_id: str, env_name: str, region: str = REGION) -> Aws:
        """AWS as the front door's role (`lambda_credentials`), through this process's endpoint
        variables (apply_env), so its InvokeEndpoint reaches the local MME."""
        import boto3

        from mmeops.aws import Aws, botocore_session

        creds = self.lambda_credentials(account_id, env_name, region)
        session = boto3.Session(
            botocore_session=botocore_session(),
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        return Aws(session, region, account_id)

    def execution_role_reader(self, route: Route) -> service.AsService:
        """A model's ExecutionRoleArn as sagemaker.amazonaws.com holds it for the model (its
        trust judged by stack/iam/service.py): what the local endpoint downloads target
        models as, so a role that may not read them fails here as on AWS. PermissionError
        when the trust refuses."""
        from mmeops.stack.iam import service

        try:
            return service.AsService.of_sagemaker(
                route.execution_role_arn, route.model_arn, route.region
            )
        except service.TrustRefused as e:
            raise PermissionError(str(e)) from None

    def bootstrap(self, repo_root: str | Path) -> None:
        """Bootstrap the accounts another repository (a test world's copy) names that this
        stack does not have yet, from infra/bootstrap.yaml with that repository's parameters,
        and let the local endpoint find their endpoints."""
        from mmeops.config.repo import load_repo

        repo = load_repo(repo_root)
        self.world.build(repo)
        known = {ref.account_id for ref in self.endpoints.accounts}
        self.endpoints.accounts.extend(r for r in _accounts(repo) if r.account_id not in known)

    def __enter__(self) -> EmbeddedStack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        EmbeddedStack.current = self
        return self

    def _start(self) -> None:
        # Imported here: `mmeops stack env` and `down` need none of this, and it takes seconds.
        from mmeops.config.repo import load_repo
        from mmeops.stack.iam import middleware as iam_middleware
        from mmeops.stack.mme import AccountRef, MmeServer, MultiModelEndpoints
        from mmeops.stack.moto_server import (
            BASE_ACCESS_KEY_ID,
            BASE_SECRET_ACCESS_KEY,
            RUNNER_ACCOUNT_ID,
            MotoServer,
            add_endpoint_update_listener,
        )
        from mmeops.stack.postgres import PgCluster
        from mmeops.stack.training import time_scale

        repo = load_repo(self.repo_root)
        # PostgreSQL (initdb, start, demo rows) comes up in a thread while moto gets its
        # buckets: mostly subprocesses and I/O, so the two overlap well.
        self.pg = PgCluster()
        self._exit.callback(self.pg.stop)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack-pg")
        warehouse = pool.submit(self._start_warehouse)
        self._exit.callback(pool.shutdown)  # runs first: pg.stop never races pg.start

        moto = MotoServer()
        self.moto_url = moto.start()
        self._exit.callback(moto.stop)

        # Every account's roles, policies, key and bucket, from infra/bootstrap.yaml itself.
        from mmeops.stack.iam.world import World

        self.world = World(self.repo_root, self.admin)
        self.world.build(repo)
        self.dsn = warehouse.result()

        # Last in the search: endpoints created with the runner's own keys, no role assumed.
        runner = AccountRef(
            RUNNER_ACCOUNT_ID, REGION, f"arn:aws:iam::{RUNNER_ACCOUNT_ID}:role/mmeops-runner"
        )
        self.endpoints = MultiModelEndpoints(
            [*_accounts(repo), runner],
            self.aws_for,
            cache_bytes=self.cache_bytes,
            recheck_seconds=None,  # moto tells us of every endpoint create, update, delete
            as_execution_role=self.execution_role_reader,
        )
        self._exit.callback(add_endpoint_update_listener(self.endpoints.endpoint_updated))
        # InvokeEndpoint is authorized as IAM would, like every call moto answers.
        mme = MmeServer(self.endpoints, guard=iam_middleware.guarding)
        self.mme_url = mme.start()
        self._exit.callback(mme.stop)

        self.env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.mme_url,
            "AWS_ACCESS_KEY_ID": BASE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": BASE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            repo.settings.warehouse.dsn_env or DEFAULT_DSN_ENV: self.dsn,
            # The product's waits for SageMaker jobs shrink as the stack's jobs do
            # (mmeops/waiting.py): polls timed for AWS's minutes would miss a second-long job.
            POLL_SCALE_ENV: str(time_scale()),
        }

    def _start_warehouse(self) -> str:
        from mmeops.stack import demo_data

        dsn = self.pg.start()
        if self.demo_rows:
            demo_data.load_initial(dsn)
        return dsn

    def apply_env(self) -> None:
        """Point this process at the stack (os.environ); undone when the stack exits."""
        if self._saved_env is None:
            names = [*self.env, *CLEARED_VARS]
            self._saved_env = {k: os.environ.get(k) for k in names}
            self._exit.callback(self._restore_env)
        for k in CLEARED_VARS:
            os.environ.pop(k, None)
        os.environ.update(self.env)
        from mmeops import aws

        aws.reset_sessions()

    def _restore_env(self) -> None:
        for k, v in (self._saved_env or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = None
        from mmeops import aws

        aws.reset_sessions()

    def __exit__(self, *exc) -> None:
        EmbeddedStack.current = None
        self._exit.close()

    def describe(self) -> dict:
        """What `mmeops stack up` records: URLs, the environment, pids and directories."""
        return {
            "pid": os.getpid(),
            "postgres_pid": self.pg.pid,
            "dirs": [str(self.pg.dir)],
            "moto_url": self.moto_url,
            "mme_url": self.mme_url,
            "env": self.env,
            # What `stack up` starts each environment's front door with (its Lambda's role).
            "invoker_credentials": {
                env: self.lambda_credentials(account, env, inst.region)
                for (account, env), inst in self.world.invokers.items()
            },
        }


# --- the stack as a background process (`mmeops stack up | env | down`) --------------------

STATE_DIR = ".mmeops"
STATE_FILE = "stack.json"
LOG_FILE = "stack.log"


def state_path(repo_root: str | Path) -> Path:
    return Path(repo_root).resolve() / STATE_DIR / STATE_FILE


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the DSN
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    tmp.replace(path)


def _alive(pid: int | None, cmdline_part: str) -> bool:
    """Whether `pid` runs and is what we started (not a recycled pid, not a zombie)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and cmdline_part in cmdline


def _stack_alive(state: dict) -> bool:
    return _alive(state.get("pid"), "mmeops.stack")


def read_state(repo_root: str | Path) -> dict | None:
    """The running background stack's description, or None."""
    path = state_path(repo_root)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if _stack_alive(state) else None


def start_background(repo_root: str | Path, timeout: float = 120.0) -> dict:
    """Start a stack in a detached process; return its description once it is ready."""
    root = Path(repo_root).resolve()
    if read_state(root) is not None:
        raise UserError("an embedded stack is already running: `mmeops stack down` first")
    stop_background(root)  # leftovers of a stack that died without cleaning up
    path = state_path(root)
    path.parent.mkdir(exist_ok=True)
    with open(path.parent / LOG_FILE, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mmeops.stack", "--repo", str(root), "--state", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command and its terminal
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            tail = (path.parent / LOG_FILE).read_text(errors="replace").strip().splitlines()
            raise StackError("the embedded stack failed to start: " + " | ".join(tail[-3:]))
        time.sleep(0.1)
    proc.kill()
    raise StackError(f"the embedded stack was not ready within {timeout:.0f}s")


def _wait_gone(pid: int, what: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid, what):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_background(repo_root: str | Path, timeout: float = 30.0) -> bool:
    """Stop the background stack and remove everything it made; False if none was there."""
    path = state_path(repo_root)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = None
    if state is not None:
        pid = state.get("pid")
        if _stack_alive(state):
            os.kill(pid, signal.SIGTERM)  # the stack stops its parts and removes its dirs
            if not _wait_gone(pid, "mmeops.stack", timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, "mmeops.stack", 5)
        # A stack killed before it cleaned up leaves its postmaster and dirs: finish the job.
        pg = state.get("postgres_pid")
        if _alive(pg, "postgres"):
            os.kill(pg, signal.SIGQUIT)  # immediate shutdown; the data is throwaway
            _wait_gone(pg, "postgres", timeout)
        for d in state.get("dirs", []):
            shutil.rmtree(d, ignore_errors=True)
    for name in (STATE_FILE, LOG_FILE, STATE_FILE.replace(".json", ".tmp")):
        (path.parent / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # only when empty: the directory may hold other things
    return state is not None


def run_until_signalled(repo_root: Path, state: Path) -> None:
    """Run a stack, describe it in `state`, stop on SIGTERM or SIGINT."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with EmbeddedStack(repo_root) as stack:
        _write_json(state, stack.describe())
        done.wait()


def main(argv: list[str] | None = None) -> None:
    """`python -m mmeops.stack --repo ROOT --state FILE` (see stack/__main__.py)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    run_until_signalled(args.repo.resolve(), args.state)
