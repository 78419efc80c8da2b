"""Runs the repository's real workflow files through act (host mode, no Docker) against the
embedded stack, in a throwaway GitHub of the harness's making:

- `origin`: a git repository holding this checkout's files, with history the test adds to
  (commits, merges, reverts); the checkout stand-in clones it, so `git diff` works as on a
  runner;
- `gh`: the fake CLI (fake_gh.py) and its state (issues, pull requests, comments, runs,
  deployments), which the test seeds and reads;
- GitHub environments (vars and secrets per environment) and repository vars and secrets.

Each `World.run` clones origin at the commit into an engine copy, applies rewrite.py (and a
test's mutation) there, and runs one workflow for one event. Every run has its own HOME, tool
cache, action cache and artifact store; each job a virtualenv that reuses the test venv's
packages (`.pth`, made by the setup-python stand-in), so `pip install .` builds only
mmeops. AWS is the embedded stack through AWS_ENDPOINT_URL, with no credentials until the
OIDC stand-in assumes a role.

After each run the harness records deployments (GitHub makes one for every job that runs in
an environment) and checks GitHub's limits on what every job produced (limits.py).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ruamel.yaml import YAML

from helpers import isolate
from mmeops.stack.iam.template import GITHUB_ORG, GITHUB_REPO

from . import limits
from .fake_api import FakeApi
from .rewrite import ENVIRONMENTS_VAR, rewrite_tree

HARNESS = Path(__file__).resolve().parent
STANDINS = HARNESS.parent / "standins"
ROOT = HARNESS.parents[2]
ACT = Path(sys.executable).parent / "act"
# The repository whose jobs the stack's roles trust: infra/bootstrap.yaml's GitHubOrg and
# GitHubRepo as the embedded stack bootstraps every account (its OIDC trust policies name
# `repo:ORG/REPO:environment:ENV`), so a job's token is judged by the real trust policy.
REPOSITORY = f"{GITHUB_ORG}/{GITHUB_REPO}"
GITHUB_TOKEN = "ghs_harness_github_token"
# The GitHub App of the github-app environment (the create-github-app-token stand-in checks
# the key is a PEM private key; nothing signs with it).
APP_CLIENT_ID = "Iv23liHarnessApp"
APP_PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nharness\n-----END RSA PRIVATE KEY-----"
# The second, read-only App review-kind.yml uses (Pull requests: read, Members: read), whose
# client id and key are repository-level: pull request jobs cannot use `github-app`.
REVIEW_APP_CLIENT_ID = "Iv23liHarnessReviewApp"
REVIEW_APP_PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nreview\n-----END RSA PRIVATE KEY-----"
# Deployment branch rule of the protected environments (docs/workflows.md step 1).
MAIN_ONLY = ["main"]

# Third-party actions at the commits the workflows pin (tests/workflows/test_workflows.py
# PINS), each mapped to its stand-in.
STANDIN_PINS = {
    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1": "checkout",
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97": "setup-python",
    "aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c": (
        "configure-aws-credentials"
    ),
    "actions/create-github-app-token@1b10c78c7865c340bc4f6099eb2f838309f1e8c3": (
        "create-github-app-token"
    ),
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "upload-artifact",
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": "download-artifact",
}
# What `pip install .` builds mmeops from (the wheel's sources and metadata).
PACKAGE_SOURCES = ("scripts", "pyproject.toml", "setup.py", "README.md")
IDENT = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENT},
    ).stdout.strip()


@dataclass(repr=False)
class Run:
    """What one act run did."""

    workflow: str
    returncode: int
    log: list[dict]
    records: list[dict]
    run_id: int
    sha: str

    def __repr__(self) -> str:  # short: the log is long, and assertion messages print it
        return f"Run({self.workflow}, run {self.run_id}, exit {self.returncode})"

    @property
    def text(self) -> str:
        return "".join(e.get("msg", "") + ("" if e.get("raw_output") else "\n") for e in self.log)

    def failures(self, lines: int = 30) -> str:
        """What the failed jobs printed last (an assertion message worth reading)."""
        failed = {e["job"] for e in self.log if e.get("jobResult") == "failure"}
        out = []
        for job in sorted(failed):
            printed = [
                e["msg"].rstrip()
                for e in self.log
                if e.get("job") == job and (e.get("raw_output") or "Failure" in e.get("msg", ""))
            ]
            out += [f"--- {job}", *printed[-lines:]]
        return "\n".join(out) or self.text[-3000:]

    def results(self) -> dict[str, list[str]]:
        """act's job results by job path ("plan-sandbox/reconcile/reconcile"), one per leg."""
        out: dict[str, list[str]] = {}
        for e in self.log:
            if e.get("jobResult"):
                out.setdefault(e["job"], []).append(e["jobResult"])
        return out

    def jobs(self, job: str | None = None) -> list[dict]:
        """The recorder's entries (one per job or leg that ran), optionally of one job id."""
        return [r for r in self.records if r["kind"] == "job" and job in (None, r["job"])]

    def assumes(self) -> list[dict]:
        return [r for r in self.records if r["kind"] == "assume"]


@dataclass(repr=False)
class World:
    """A repository, its GitHub and the embedded stack, for one test."""

    root: Path
    stack: object
    environments: dict[str, dict] = field(default_factory=dict)
    repo_vars: dict[str, str] = field(default_factory=dict)
    repo_secrets: dict[str, str] = field(default_factory=dict)
    runs: int = 0
    # Another World's origin to start from (its commit, accounts and bootstrapped roles):
    # for scenarios that only read AWS, which then share one set of accounts.
    template: Path | None = None

    def __repr__(self) -> str:  # never the secrets: assertion messages print it
        return f"World({self.root})"

    def __post_init__(self) -> None:
        self.origin = self.root / "origin"
        self.state_path = self.root / "gh-state.json"
        self.calls_path = self.root / "gh-calls.jsonl"
        self._make_origin()
        self.state_path.write_text(
            json.dumps(
                {
                    "issues": [],
                    "pulls": [],
                    "comments": [],
                    "runs": [],
                    "deployments": [],
                    "branches": {"main": self.sha("main")},
                }
            )
        )
        self.calls_path.write_text("")
        self.api = FakeApi(self.state_path, REPOSITORY)

    # -- the repository -----------------------------------------------------------------
    def _make_origin(self) -> None:
        if self.template is not None:
            shutil.copytree(self.template, self.origin, symlinks=True)
            return
        _copy_checkout(self.origin)
        # Endpoint names and artifact prefixes of its own: the session's stack is shared.
        isolate(self.origin, "wf")
        git(self.origin, "init", "-q", "-b", "main")
        # The checkout stand-in fetches one commit by id, as actions/checkout does.
        git(self.origin, "config", "uploadpack.allowAnySHA1InWant", "true")
        git(self.origin, "add", "-A")
        git(self.origin, "commit", "-q", "-m", "initial")
        # Packed once: every job's checkout (a depth-1 fetch) then copies packed objects
        # instead of recompressing some 450 loose ones (0.5 s of CPU, 1 s of a job's wall
        # time on a loaded machine; 0.1 s packed). Storage only: the history is the same.
        git(self.origin, "repack", "-adq", "--window=0")

    def sha(self, ref: str = "HEAD") -> str:
        return git(self.origin, "rev-parse", ref)

    def commit(self, changes: dict[str, str | None], message: str, branch: str = "main") -> str:
        """Commit file changes (None deletes) on `branch` (created from main if new)."""
        current = git(self.origin, "rev-parse", "--abbrev-ref", "HEAD")
        if branch != current:
            exists = (
                subprocess.run(
                    ["git", "-C", str(self.origin), "rev-parse", "--verify", "-q", branch],
                    capture_output=True,
                ).returncode
                == 0
            )
            git(self.origin, "checkout", "-q", *([] if exists else ["-b"]), branch)
        for name, text in changes.items():
            path = self.origin / name
            if text is None:
                git(self.origin, "rm", "-q", name)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                git(self.origin, "add", name)
        git(self.origin, "commit", "-q", "-m", message)
        sha = self.sha()
        git(self.origin, "checkout", "-q", "main")
        self._set_branch(branch, sha)
        return sha

    def merge(self, branch: str, message: str) -> str:
        """Merge a branch into main (a merge commit, as GitHub's merge button makes)."""
        git(self.origin, "merge", "-q", "--no-ff", "-m", message, branch)
        self._set_branch("main", self.sha())
        return self.sha()

    def revert(self, sha: str) -> str:
        args = (
            ["-m", "1"]
            if len(git(self.origin, "rev-list", "--parents", "-n1", sha).split()) > 2
            else []
        )
        git(self.origin, "revert", "--no-edit", *args, sha)
        self._set_branch("main", self.sha())
        return self.sha()

    def read(self, name: str, ref: str = "main") -> str:
        return git(self.origin, "show", f"{ref}:{name}")

    # -- its GitHub -----------------------------------------------------------------------
    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    def _update_state(self, change) -> None:
        data = self.state()
        change(data)
        self.state_path.write_text(json.dumps(data, indent=1))

    def _set_branch(self, branch: str, sha: str) -> None:
        self._update_state(lambda d: d["branches"].__setitem__(branch, sha))

    def deployed(self, env: str, sha: str) -> None:
        """A successful deployment of `env` at `sha`, as GitHub holds one after a deploy run
        applied that commit (what `actions/deployed` reads)."""

        def add(data: dict) -> None:
            data["next_id"] = data.get("next_id", 1000) + 1
            data["deployments"].append(
                {
                    "id": data["next_id"],
                    "sha": sha,
                    "environment": env,
                    "statuses": ["success"],
                    "run_id": 0,
                    "job": "seed",
                }
            )

        self._update_state(add)

    def gh_calls(self) -> list[dict]:
        return [json.loads(li) for li in self.calls_path.read_text().splitlines() if li]

    def default_environments(self, dsn: str) -> None:
        """GitHub environments as docs/workflows.md ("1. GitHub environments, first") sets them
        up: training; monitor (the monitor role, the warehouse DSN as its secret); each
        environment with its deployer role; ENV-readonly with the reader role; github-app
        (the App's client id and private key); every one but ENV-readonly admits `main` alone
        (its deployment branch rule). At the repository: the read-only review App's client id
        and key (step 5)."""
        from mmeops.config.repo import load_repo

        repo = load_repo(self.origin)
        t = repo.settings.training
        envs = {
            "training": {
                "branches": MAIN_ONLY,
                "vars": {"AWS_ROLE_ARN": t.role_arn, "AWS_ACCOUNT_ID": t.account_id},
            },
            "monitor": {
                "branches": MAIN_ONLY,
                "vars": {"AWS_ROLE_ARN": t.monitor_role_arn, "AWS_ACCOUNT_ID": t.account_id},
                "secrets": {"MMEOPS_WAREHOUSE_DSN": dsn},
            },
            "github-app": {
                "branches": MAIN_ONLY,
                "vars": {"MMEOPS_APP_CLIENT_ID": APP_CLIENT_ID},
                "secrets": {"MMEOPS_APP_PRIVATE_KEY": APP_PRIVATE_KEY},
            },
        }
        for name, e in repo.envs.items():
            envs[name] = {
                "branches": MAIN_ONLY,
                "vars": {"AWS_ROLE_ARN": e.role_arn, "AWS_ACCOUNT_ID": e.account_id},
            }
            envs[f"{name}-readonly"] = {
                "vars": {
                    "AWS_ROLE_ARN": f"arn:aws:iam::{e.account_id}:role/mmeops-reader",
                    "AWS_ACCOUNT_ID": e.account_id,
                }
            }
        self.environments = envs
        self.repo_vars["MMEOPS_REVIEW_APP_CLIENT_ID"] = REVIEW_APP_CLIENT_ID
        self.repo_secrets["MMEOPS_REVIEW_APP_PRIVATE_KEY"] = REVIEW_APP_PRIVATE_KEY

    def changed(self, before: str, after: str) -> list[str]:
        return git(self.origin, "diff", "--name-only", before, after).splitlines()

    def triggers(self, workflow: str, event: str, before: str, after: str, branch="main") -> bool:
        """Whether GitHub starts `workflow` for a push (or pull request) of before..after:
        its `branches` and `paths` filters (GitHub docs, "Workflow syntax: on.<push>.paths":
        `*` matches within a path segment, `**` across them; the workflow runs when at least
        one changed file matches). act does not apply `paths`; the harness does."""
        on = YAML(typ="safe").load((self.origin / ".github/workflows" / workflow).read_text())
        on = on.get("on", on.get(True))
        if isinstance(on, (str, list)):
            return event in ([on] if isinstance(on, str) else on)
        if event not in on:
            return False
        spec = on[event] or {}
        if "branches" in spec and not any(_glob(p).fullmatch(branch) for p in spec["branches"]):
            return False
        if "paths" not in spec:
            return True
        return any(
            _glob(p).fullmatch(f) for p in spec["paths"] for f in self.changed(before, after)
        )

    # -- a run ----------------------------------------------------------------------------
    def run(
        self,
        workflow: str,
        event: str,
        payload: dict,
        *,
        sha: str | None = None,
        ref: str = "main",
        inputs: dict[str, str] | None = None,
        created_at: datetime | None = None,
        mutate=None,
        check_limits: bool = True,
    ) -> Run:
        """Run `.github/workflows/<workflow>` for `event` at `sha` (default: `ref`'s head)."""
        self.runs += 1
        run_id = 9000 + self.runs
        sha = sha or self.sha(ref)
        home = self.root / f"run-{self.runs}"
        engine = home / "engine"
        home.mkdir()
        subprocess.run(["git", "clone", "-q", str(self.origin), str(engine)], check=True)
        git(engine, "checkout", "-q", "-B", ref, sha)
        git(engine, "remote", "set-url", "origin", f"https://github.com/{REPOSITORY}.git")
        if mutate is not None:
            mutate(engine)
        rewrite_tree(engine, REPOSITORY, sha)

        created = (created_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._update_state(
            lambda d: d["runs"].append(
                {
                    "databaseId": run_id,
                    "workflow": workflow,
                    "event": event,
                    "createdAt": created,
                    "status": "in_progress",
                    "conclusion": None,
                    "headSha": sha,
                }
            )
        )
        env = self._host_env(home, run_id, sha)
        (home / "environments.json").write_text(json.dumps(self.environments))
        event_file = home / "event.json"
        full = {"repository": _repository_payload(), **payload}
        if inputs is not None:
            full["inputs"] = inputs
        event_file.write_text(json.dumps(full))
        cmd = [
            str(ACT),
            event,
            "-W",
            f".github/workflows/{workflow}",
            "-e",
            str(event_file),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--no-skip-checkout",
            "--json",
            "--no-cache-server",
            "--defaultbranch",
            "main",
            "--concurrent-jobs",
            "2",
            "--action-cache-path",
            str(home / "act"),
            "--env",
            f"GITHUB_RUN_ID={run_id}",
            "--var",
            f"{ENVIRONMENTS_VAR}={json.dumps(self.environments)}",
            "--secret",
            f"GITHUB_TOKEN={GITHUB_TOKEN}",
            # The REST routes mmeops review-kind reads (fake_api.py), as GitHub's API URL.
            "--env",
            f"GITHUB_API_URL={self.api.url}",
        ]
        for pin, name in STANDIN_PINS.items():
            cmd += ["--local-repository", f"{pin}={STANDINS / name}"]
        cmd += ["--local-repository", f"{REPOSITORY}@{sha}={_uses_tree(engine, home)}"]
        for k, v in self.repo_vars.items():
            cmd += ["--var", f"{k}={v}"]
        for k, v in self.repo_secrets.items():
            cmd += ["--secret", f"{k}={v}"]
        for k, v in (inputs or {}).items():
            cmd += ["--input", f"{k}={v}"]
        proc = subprocess.run(cmd, cwd=engine, env=env, capture_output=True, text=True)
        # Kept for reading a failed or slow run afterwards (timestamps per step: profile.py).
        (home / "act.jsonl").write_text(proc.stdout + proc.stderr)
        log = []
        for line in proc.stdout.splitlines() + proc.stderr.splitlines():
            try:
                log.append(json.loads(line))
            except ValueError:
                log.append({"msg": line})
        records_path = home / "records.jsonl"
        records = [json.loads(li) for li in records_path.read_text().splitlines() if li]
        result = Run(workflow, proc.returncode, log, records, run_id, sha)
        conclusion = "success" if proc.returncode == 0 else "failure"
        self._update_state(lambda d: _finish(d, run_id, conclusion, result.jobs()))
        if check_limits:
            limits.check(result)
        return result

    def _host_env(self, home: Path, run_id: int, sha: str) -> dict[str, str]:
        """The runner's environment: its own HOME, no AWS credentials, the fake gh first on
        PATH and no mmeops until the setup action installs it."""
        (home / "home").mkdir()
        (home / "artifacts").mkdir()
        (home / "records.jsonl").write_text("")
        stack_env = self.stack.env
        return {
            "PATH": f"{HARNESS}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home / "home"),
            "LANG": "C.UTF-8",
            "TMPDIR": str(home),
            "AWS_ENDPOINT_URL": stack_env["AWS_ENDPOINT_URL"],
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": stack_env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"],
            "AWS_EC2_METADATA_DISABLED": "true",
            # `pip install .` builds mmeops with the test venv's setuptools and wheel (seen
            # through the .pth): no isolated build environment to download. pip reads the
            # negative flag's variable inverted: "0" turns isolation off.
            "PIP_NO_BUILD_ISOLATION": "0",
            "PIP_NO_INDEX": "1",
            "MMEOPS_HARNESS_PYTHON": sys.executable,
            "MMEOPS_HARNESS_DIR": str(HARNESS),
            "MMEOPS_HARNESS_STANDINS": str(STANDINS),
            "MMEOPS_HARNESS_RECORDER": str(HARNESS / "recorder.py"),
            "MMEOPS_HARNESS_RECORDS": str(home / "records.jsonl"),
            "MMEOPS_HARNESS_ARTIFACTS": str(home / "artifacts"),
            "MMEOPS_HARNESS_VENVS": str(home / "venvs"),
            "MMEOPS_HARNESS_ORIGIN": str(self.origin),
            "MMEOPS_HARNESS_ENVIRONMENTS_FILE": str(home / "environments.json"),
            # mmeops as `pip install .` of this commit builds it, built once per session for
            # each version of its sources (actions/setup links it: standins.py install-mmeops).
            "MMEOPS_HARNESS_PACKAGE_KEY": package_key(self.origin, sha),
            "MMEOPS_HARNESS_PACKAGE_SITE": str(_installed(self.origin, sha)),
            "MMEOPS_HARNESS_GH_STATE": str(self.state_path),
            "MMEOPS_HARNESS_GH_CALLS": str(self.calls_path),
        }


def package_key(repo: Path, rev: str) -> str:
    """The git object ids of the package's sources at `rev`: equal keys, equal wheels."""
    return git(repo, "rev-parse", *(f"{rev}:{name}" for name in PACKAGE_SOURCES)).replace("\n", ",")


def _copy_checkout(dest: Path, names: tuple[str, ...] = ()) -> None:
    """This checkout's files as git sees them (tracked, and untracked but not ignored), or
    only those under `names`, copied into `dest`."""
    files = (
        subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
            + ["--", *names],
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


_BUILT: dict[str, Path] = {}
_BUILD_ROOT: list[Path] = []
_BUILDING = threading.Lock()  # one build at a time: a scenario waits for the early one


def prebuild() -> None:
    """Start building, in the background, the package every world's origin will hold (its
    sources are this checkout's, which a world copies unchanged): the first scenario then
    finds it built instead of spending 5-6 s on `pip wheel` while the rest of the session
    runs. A key that differs (sources edited meanwhile) is simply built again when asked."""

    def build() -> None:
        repo = Path(tempfile.mkdtemp(prefix="mmeops-harness-prebuild-"))
        try:
            _copy_checkout(repo, PACKAGE_SOURCES)
            git(repo, "init", "-q")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "package sources")
            _installed(repo, "HEAD")
        finally:
            shutil.rmtree(repo, ignore_errors=True)

    threading.Thread(target=build, name="mmeops-harness-prebuild").start()


def _installed(repo: Path, sha: str) -> Path:
    """mmeops installed from the commit's sources, built once per session per key: the wheel
    `pip install .` would build (same sources, the test venv's setuptools, the C extension
    compiled), unpacked as pip installs a wheel into site-packages (its console script is
    written per job). Every job used to build it again: 10 to 18 s of a 30 s plan job."""
    key = package_key(repo, sha)
    with _BUILDING:
        return _BUILT.get(key) or _build(repo, sha, key)


def _build(repo: Path, sha: str, key: str) -> Path:
    if not _BUILD_ROOT:
        _BUILD_ROOT.append(Path(tempfile.mkdtemp(prefix="mmeops-harness-wheels-")))
        atexit.register(shutil.rmtree, _BUILD_ROOT[0], True)
    where = _BUILD_ROOT[0] / f"build-{len(_BUILT)}"
    src, wheels, site = where / "src", where / "wheels", where / "site"
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", sha, *PACKAGE_SOURCES], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, filter="data")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(wheels),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("mmeops-*.whl")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)  # noqa: S202 (the wheel this function just built)
    _BUILT[key] = site
    return site


def _uses_tree(engine: Path, home: Path) -> Path:
    """What `uses: ORG/REPO/...@SHA` may name in this repository, alone: its composite actions
    (actions/) and reusable workflows (.github/). act copies the mapped directory on every
    use, Pre and Post of such an action (about a second each for the whole 6 MB checkout,
    measured with profile.py); these two folders are 150 KB. No action reads another file of
    the repository through github.action_path (none names it)."""
    for action in (engine / "actions").glob("*/action.yml"):
        assert "action_path" not in action.read_text(), f"{action} reads its own folder"
    uses = home / "uses"
    for part in ("actions", ".github"):
        shutil.copytree(engine / part, uses / part)
    return uses


def _glob(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _repository_payload() -> dict:
    owner, name = REPOSITORY.split("/")
    return {
        "full_name": REPOSITORY,
        "name": name,
        "owner": {"login": owner},
        "default_branch": "main",
    }


def _finish(data: dict, run_id: int, conclusion: str, jobs: list[dict]) -> None:
    for r in data["runs"]:
        if r["databaseId"] == run_id:
            r.update(status="completed", conclusion=conclusion)
    # GitHub records a deployment for every job that ran in an environment, with its result.
    for job in jobs:
        if job.get("environment"):
            data["next_id"] = data.get("next_id", 1000) + 1
            data["deployments"].append(
                {
                    "id": data["next_id"],
                    "sha": job["sha"],
                    "environment": job["environment"],
                    "statuses": [job["status"]],
                    "run_id": run_id,
                    "job": job["job"],
                }
            )


# --- event payloads shaped like GitHub's (docs: "Webhook events and payloads") -------------


def pull_request(number: int, base: str, head: str, head_ref: str, action: str = "opened") -> dict:
    repo = _repository_payload()
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": head, "ref": head_ref, "repo": repo},
            "base": {"sha": base, "ref": "main", "repo": repo},
        },
    }


def push(before: str, after: str, ref: str = "refs/heads/main") -> dict:
    return {"ref": ref, "before": before, "after": after, "head_commit": {"id": after}}


def schedule(cron: str) -> dict:
    return {"schedule": cron}
