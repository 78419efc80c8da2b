"""Every process runs as its workflow runs it (issue 23): each command is a separate `mmeops`
process whose only AWS credentials are the web-identity session of the role its workflow's
`environment:` gives it, exchanged from the OIDC token GitHub would mint for that environment
(stack/iam/github_oidc.py, configure-aws-credentials' AssumeRoleWithWebIdentity). The command →
environment → role table is mmeops.stack.iam.workflow_roles.TABLE, which
tests/iam/test_command_roles.py checks against the workflow files; none is written here.

The product meets no AccessDenied on the way; a command run under the wrong role (apply as an
environment's reader, monitor as the reader, retrain as a deployer) is refused with AWS's
AccessDenied sentence, which is also what proves the happy path could fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import isolate
from mmeops.config.repo import load_repo
from mmeops.stack.iam import github_oidc, middleware, workflow_roles
from mmeops.stack.moto_server import runner_aws

REGION = "us-east-1"
MMEOPS = str(Path(sys.executable).with_name("mmeops"))
DENIED = "is not authorized to perform: "
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
# Only the `training` and `monitor` environments hold the warehouse DSN secret (retrain.yml,
# monitor.yml: "never of ENV-readonly, which any branch may use").
HOLD_THE_DSN = ("training", "monitor")
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


class Scenario:
    """A repository copy with its own accounts, and the workflow jobs that run on it."""

    def __init__(self, stack, root: Path, model: str):
        self.stack, self.root, self.model = stack, root, model
        self.repo = load_repo(root)
        self.runs: list[tuple[str, str | None, str]] = []  # (command, environment, role)

    def role(self, command: str, env: str | None) -> tuple[str | None, str | None]:
        """(GitHub environment, role ARN) the workflows run `command` with for `env`."""
        accounts = {name: e.account_id for name, e in self.repo.envs.items()}
        training = self.repo.settings.training.account_id
        environment, _ = workflow_roles.job_of(command, env)
        return environment, workflow_roles.role_arn(command, env, training, accounts)

    def process_env(self, environment: str | None, role_arn: str | None) -> dict[str, str]:
        """The job's environment after configure-aws-credentials: the stack's endpoints, the
        web-identity session's keys and nothing of the runner's own."""
        env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
        dsn_var = self.repo.settings.warehouse.dsn_env or "MMEOPS_WAREHOUSE_DSN"
        if environment not in HOLD_THE_DSN:
            env.pop(dsn_var, None)
        # The commit the job checked out (reconcile refuses a work tree that is not GITHUB_SHA).
        env["GITHUB_SHA"] = subprocess.run(
            [*GIT, "rev-parse", "HEAD"], cwd=self.root, capture_output=True, text=True, check=True
        ).stdout.strip()
        if role_arn is not None:
            creds = github_oidc.assume(
                runner_aws(self.stack.moto_url, REGION), role_arn, environment=environment
            )
            env |= github_oidc.environment_variables(creds)
        return env

    def run(self, command: str, *args: str, env: str | None = None, as_: str | None = None):
        """`mmeops <args>` as a job of `command`'s workflow (or, with `as_`, as the job that
        runs `as_` in the same environment: the wrong role). Returns (exit code, output,
        the requests IAM refused meanwhile)."""
        environment, role_arn = self.role(as_ or command, env)
        self.runs.append((command, environment, role_arn))
        start = time.monotonic()
        with middleware.expecting() as log:
            done = subprocess.run(
                [MMEOPS, "--repo", str(self.root), *args],
                env=self.process_env(environment, role_arn),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        print(f"{time.monotonic() - start:6.1f}s {command} as {role_arn}")
        return done.returncode, done.stdout + done.stderr, log.denied

    def ok(self, command: str, *args: str, env: str | None = None) -> str:
        code, out, denied = self.run(command, *args, env=env)
        assert [d.message for d in denied] == [], out
        assert code == 0, out
        return out

    def refused(self, command: str, *args: str, env: str | None, as_: str) -> str:
        """The command under the wrong role: AWS's AccessDenied sentence, and a failure."""
        code, out, denied = self.run(command, *args, env=env, as_=as_)
        assert code != 0, out
        assert denied, out
        assert DENIED in out, out
        assert "Traceback" not in out
        return out

    def commit(self, message: str) -> None:
        subprocess.run([*GIT, "commit", "-qam", message], cwd=self.root, check=True)

    def set_instance_type(self, env: str, instance_type: str) -> None:
        path = self.root / "environments" / f"{env}.yaml"
        text = path.read_text()
        was = self.repo.envs[env].endpoint.instance_type
        path.write_text(text.replace(f"instance_type: {was}", f"instance_type: {instance_type}"))
        self.repo = load_repo(self.root)


@pytest.fixture
def scenario(stack, repo_copy, monkeypatch) -> Scenario:
    uid = isolate(repo_copy, "r")
    model = f"roles-{uid}"  # its own package group and history on the shared stack
    src, dst = repo_copy / "models" / "diabetes-progression", repo_copy / "models" / model
    shutil.copytree(src, dst)
    text = (dst / "model.yaml").read_text().replace("name: diabetes-progression", f"name: {model}")
    (dst / "model.yaml").write_text(text.replace("num_round: 300", "num_round: 20"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run([*GIT, *args], cwd=repo_copy, check=True)
    return Scenario(stack, repo_copy, model)


def _plan_apply_check(s: Scenario, env: str) -> None:
    s.ok("reconcile --plan", "reconcile", env, "--plan", env=env)
    s.ok("reconcile --apply", "reconcile", env, "--apply", env=env)
    s.ok("reconcile --check", "reconcile", env, "--check", env=env)


def _retrain(s: Scenario, backend: str, jobs: int) -> str:
    """retrain.yml's job: extract, tune, register, each its own step (process) with a fresh
    session of the training role; register's output."""
    s.ok("extract", "extract", s.model)
    s.ok("tune", "tune", s.model, "--backend", backend, "--max-jobs", str(jobs))
    return s.ok("register", "register", s.model)


def _promote(s: Scenario, version: int, env: str) -> None:
    s.ok("promote", "promote", s.model, str(version), "--to", env)
    s.commit(f"{env}: {s.model} v{version}")


def test_plan_apply_check_under_their_roles_and_each_wrong_role_refused(scenario):
    """The fast subset: a fresh sandbox planned, applied (the endpoint created) and checked,
    each as its job; then apply as the environment's reader, monitor as the reader and extract
    as the deployer (it may assume the approver only, never the training role): refused."""
    s = scenario
    _plan_apply_check(s, "sandbox")
    apply = s.refused("reconcile --apply", "reconcile", "sandbox", "--apply",
                      env="sandbox", as_="reconcile --plan")  # fmt: skip
    assert "assumed-role/mmeops-reader/" in apply
    monitor = s.refused("monitor", "monitor", "sandbox", env="sandbox", as_="reconcile --check")
    assert "sts:AssumeRole" in monitor and "mmeops-monitor" in monitor
    extract = s.refused("extract", "extract", s.model, env="sandbox", as_="reconcile --apply")
    assert "assumed-role/mmeops-deployer/" in extract
    # Each happy run had the environment the table names.
    assert [(c, e) for c, e, _ in s.runs[:3]] == [
        ("reconcile --plan", "sandbox-readonly"), ("reconcile --apply", "sandbox"),
        ("reconcile --check", "sandbox-readonly"),
    ]  # fmt: skip


@pytest.mark.slow
def test_retrain_locally_then_plan_apply_check_and_monitor_each_under_its_role(scenario):
    """retrain.yml's three steps with the local backend (two trials), pinned in sandbox,
    plan/apply/check, monitor: no AccessDenied."""
    s = scenario
    assert f"registered {s.model} version 1" in _retrain(s, "local", 2)
    _promote(s, 1, "sandbox")
    _plan_apply_check(s, "sandbox")
    s.ok("monitor", "monitor", "sandbox", s.model)


@pytest.mark.slow
def test_the_whole_loop_runs_each_command_under_its_workflows_role(scenario):
    """Retrain twice with SageMaker tuning jobs (the second warm-started), plan/apply/check on
    sandbox, an instance-type change (autoscaling registered: the endpoint is recreated, not
    updated), a second version, promote and apply on qa, invoke, monitor: no AccessDenied."""
    s = scenario
    assert "registered" in _retrain(s, "sagemaker", 2)
    _promote(s, 1, "sandbox")
    _plan_apply_check(s, "sandbox")
    s.set_instance_type("sandbox", "ml.c5.xlarge")
    s.commit("sandbox: ml.c5.xlarge")
    _plan_apply_check(s, "sandbox")
    assert f"registered {s.model} version 2" in _retrain(s, "sagemaker", 2)
    _promote(s, 2, "sandbox")
    _plan_apply_check(s, "sandbox")
    _promote(s, 2, "qa")
    _plan_apply_check(s, "qa")
    body = s.root / "rows.csv"
    body.write_text("0.03,0.05,0.06,0.02,-0.04,-0.03,-0.04,0.00,0.02,-0.02\n")
    # `invoke` has no workflow: it runs as the environment's apply job (its deployer, whose
    # smoke tests invoke too). The reader, which any pull request's plan job assumes, may not
    # invoke an endpoint: the stack refuses it as IAM does.
    code, out, denied = s.run("reconcile --plan", "invoke", "sandbox", s.model, "--body",
                              str(body), env="sandbox")  # fmt: skip
    assert code == 1 and [d.action for d in denied] == ["sagemaker:InvokeEndpoint"], out
    code, out, denied = s.run("reconcile --apply", "invoke", "sandbox", s.model, "--body",
                              str(body), env="sandbox")  # fmt: skip
    assert (code, denied) == (0, []), out
    assert "answered" in out and "v2" in out
    s.ok("monitor", "monitor", "sandbox", s.model)
    s.ok("monitor", "monitor", "qa", s.model)
