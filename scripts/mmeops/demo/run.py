"""`mmeops demo`: the whole GitOps loop, performed for real on the embedded stack.

In a temporary git repository holding a copy of the configs: retrain both demo models (v1,
with SageMaker tuning jobs that the embedded stack runs, unless `backend="local"`),
pin them in sandbox and promote them to qa and prod (one commit and one reconcile each),
invoke; new rows arrive; retrain (warm-started, v2); promote v2 through sandbox, qa and prod;
`git revert` prod's last commit, reconcile, and check that v1 answers again with exactly the
predictions it gave before. Every step is verified; any failed check ends the demo with
`DemoFailed` (exit 1). The library narrates through `say`; it never prints.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mmeops.aws import split_s3_uri
from mmeops.config.repo import Repo, load_repo
from mmeops.demo import front_door as demo_front_door
from mmeops.demo import monitor as demo_monitor
from mmeops.demo.front_door import FrontDoorHandle
from mmeops.deploy.invoke import Invocation, invoke
from mmeops.deploy.planner import CopyArtifact, UpdateEndpointConfig
from mmeops.deploy.promote import promote
from mmeops.deploy.reconcile import Report, reconcile
from mmeops.errors import MmeopsError
from mmeops.register.run import training_aws
from mmeops.registry import describe
from mmeops.retrain import retrain
from mmeops.stack import demo_data
from mmeops.stack.embedded import EmbeddedStack

MODELS = ("diabetes-progression", "breast-cancer")
ENVS = ("sandbox", "qa", "prod")
GIT_USER = ["-c", "user.name=mmeops demo", "-c", "user.email=demo@mmeops.invalid"]
# The production path by default: SageMaker tuning jobs, which the embedded stack really runs.
BACKEND_STEP = {
    "sagemaker": "SageMaker tuning jobs on the embedded stack",
    "local": "local tuning (optuna over xgboost, in-process)",
}


class DemoFailed(MmeopsError):
    """A step ran but what it produced is not what the loop promises."""


@dataclass
class Served:
    env: str
    model: str
    version: int
    prediction: str


@dataclass
class DemoResult:
    steps: list[tuple[str, float]] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(f"demo check failed: {message}")


class Demo:
    def __init__(
        self,
        source: Path,
        say: Callable[[str], None],
        max_jobs: int | None = None,
        backend: str = "sagemaker",
        start_front_door: Callable[[Path, str], FrontDoorHandle] | None = None,
    ):
        self.start_front_door = start_front_door
        self.source = source
        self.say = say
        self.max_jobs = max_jobs
        self.backend = backend
        self.result = DemoResult()
        self.root = Path()
        self.samples: dict[str, bytes] = {}

    # --- plumbing
    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", *GIT_USER, *args], cwd=self.root, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise DemoFailed(f"git {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def repo(self) -> Repo:
        return load_repo(self.root)

    def step(self, name: str, fn: Callable[[], None]) -> None:
        self.say(f"\n▶ {name}")
        start = time.monotonic()
        fn()
        self.result.steps.append((name, time.monotonic() - start))

    # --- the loop
    def run(self) -> DemoResult:
        with tempfile.TemporaryDirectory(prefix="mmeops-demo-") as tmp:
            self.root = Path(tmp)
            for part in ("mmeops.yaml", "models", "environments"):
                src = self.source / part
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, self.root / part)
            self.git("init", "-q", "-b", "main")
            self.git("add", "-A")
            self.git("commit", "-q", "-m", "mmeops demo: initial configs")
            self.say(f"temporary GitOps repository: {self.root}")
            with EmbeddedStack(self.root) as stack:
                stack.apply_env()
                self.say(f"embedded AWS at {stack.moto_url}, local MME at {stack.mme_url}")
                self._loop(stack)
        return self.result

    def _loop(self, stack: EmbeddedStack) -> None:
        how = BACKEND_STEP[self.backend]
        self.step(f"retrain both models: {how} (version 1)", lambda: self.retrain(1))
        for env in ENVS:
            self.step(
                f"pin v1 in {env}.yaml, commit, reconcile {env}",
                lambda env=env: self.promote_and_reconcile(env, 1),
            )
        self.step("invoke v1 in every environment", lambda: self.invoke_all(1))
        v1 = {m: self.invocation("prod", m).predictions for m in MODELS}
        self.step(
            "new rows arrive in the warehouse",
            lambda: self.new_rows(stack.dsn),
        )
        self.step(
            f"retrain: {how}, warm-started from v1's tuning (version 2)", lambda: self.retrain(2)
        )
        for env in ENVS:
            self.step(
                f"promote v2: edit {env}.yaml, commit, reconcile {env}",
                lambda env=env: self.promote_and_reconcile(env, 2),
            )
        self.step("invoke v2 in every environment", lambda: self.invoke_all(2))
        self.step("roll back prod: git revert, reconcile prod", self.rollback)
        self.step("invoke prod again: version 1 answers", lambda: self.verify_rollback(v1))
        self.step(
            "monitor prod: drifted rows, then bad labels, and the retrain they trigger",
            lambda: demo_monitor.run(
                self.root, stack.dsn, self.say, _check, self.max_jobs, self.backend
            ),
        )
        if self.start_front_door is not None:
            self.step(
                "front door: a 10% canary and a shadow on prod, the canary report, the canary "
                "promoted, the promotion reverted",
                self.front_door,
            )

    def front_door(self) -> None:
        assert self.start_front_door is not None
        demo_front_door.run(
            self.root,
            self.samples,
            self.start_front_door,
            lambda message: self.git("commit", "-q", "-am", message),
            self.reconcile,
            lambda: self.git("revert", "--no-edit", "HEAD"),
            self.say,
            _check,
        )

    def new_rows(self, dsn: str) -> None:
        inserted = demo_data.arrive_new_rows(dsn)
        _check(all(n > 0 for n in inserted.values()), f"no new rows arrived: {inserted}")
        self.say("  " + ", ".join(f"{n} rows into {table}" for table, n in inserted.items()))

    def retrain(self, version: int) -> None:
        repo = self.repo()
        for model in MODELS:
            r = retrain(repo, model, backend=self.backend, max_jobs=self.max_jobs)
            reg, tuned = r.registration, r.tune
            self.say(
                f"  {model}: {r.extract.total_rows} rows extracted; "
                f"{tuned.warm_start.reason}; {tuned.record.n_training_jobs} trials"
            )
            self.say(f"  {model}: {reg.verdict.summary()}")
            _check(
                reg.version == version, f"{model} registered as v{reg.version}, expected v{version}"
            )
            if version > 1:
                _check(bool(tuned.record.parents), f"{model} v{version} was not warm-started")
            if model not in self.samples:
                # One request body per model for the whole demo, so v1's answers before and
                # after the revert can be compared exactly.
                package = describe(training_aws(repo), model, version)
                assert package is not None
                bucket, key = split_s3_uri(package["CustomerMetadataProperties"]["sample_uri"])
                self.samples[model] = training_aws(repo).get_bytes(bucket, key)[0]

    def promote_and_reconcile(self, env: str, version: int) -> None:
        repo = self.repo()
        for model in MODELS:
            promote(repo, model, version, env)
        self.git("commit", "-q", "-am", f"{env}: promote demo models to v{version}")
        report = self.reconcile(env)
        served = {r.model: r.desired for r in report.results}
        _check(
            all(served.get(m) == version for m in MODELS),
            f"{env} serves {served}, expected v{version}",
        )

    def reconcile(self, env: str) -> Report:
        report = reconcile(self.repo(), env, "apply", poll_seconds=0.2)
        for r in report.results:
            self.say(f"  {env} {r.model}: {r.status.value}: {r.message}")
        _check(not report.failed, f"reconcile {env} failed: {report.summary()}")
        again = reconcile(self.repo(), env, "check")
        _check(not again.drift, f"{env} drifted right after apply: {again.drift}")
        return report

    def invocation(self, env: str, model: str) -> Invocation:
        return invoke(self.repo(), env, model, self.samples[model])

    def invoke_all(self, version: int) -> None:
        for env in ENVS:
            for model in MODELS:
                inv = self.invocation(env, model)
                _check(inv.version == version, f"{env} {model} answered as v{inv.version}")
                self.say(f"  {env} {model} v{inv.version}: {', '.join(inv.predictions[:3])} …")

    def rollback(self) -> None:
        self.git("revert", "--no-edit", "HEAD")
        self.say(f"  {self.git('log', '-1', '--format=%s')}")
        report = self.reconcile("prod")
        assert report.plan is not None
        copies = [a for a in report.plan.actions if isinstance(a, CopyArtifact)]
        updates = [a for a in report.plan.actions if isinstance(a, UpdateEndpointConfig)]
        _check(
            not copies and not updates,
            "a rollback to a retained version should only rewrite the manifest",
        )
        self.say("  rollback was a manifest write: no copy, no endpoint update")

    def verify_rollback(self, v1: dict[str, tuple[str, ...]]) -> None:
        for env in ENVS:
            for model in MODELS:
                inv = self.invocation(env, model)
                expected = 1 if env == "prod" else 2
                _check(inv.version == expected, f"{env} {model} answered as v{inv.version}")
                if env == "prod":
                    _check(
                        inv.predictions == v1[model],
                        f"prod {model} predictions differ from v1's after the revert",
                    )
                self.result.served.append(Served(env, model, inv.version, inv.predictions[0]))
        self.say("  prod's predictions equal version 1's, exactly")


def run_demo(
    source: str | Path,
    say: Callable[[str], None],
    max_jobs: int | None = None,
    backend: str = "sagemaker",
    start_front_door: Callable[[Path, str], FrontDoorHandle] | None = None,
) -> DemoResult:
    """`start_front_door(root, env)` serves an environment's front door (the CLI passes
    mmeops.invoker's; without it the front-door act is left out)."""
    return Demo(Path(source).resolve(), say, max_jobs, backend, start_front_door).run()
