"""The production path, end to end on the embedded stack: `--backend sagemaker` against the
same loop with `--backend local`, measured in the same run.

For each backend, on a fresh embedded stack and a fresh git copy of the repository, for both
demo models: extract → tune (cold) → register → pin in sandbox, reconcile, invoke → new rows
arrive → extract → tune (warm-started from the first job) → register → promote, reconcile,
invoke. Both backends get the same data, the same number of training jobs (`--max-jobs`, the
run stops if they differ) and the models' own static hyperparameters (num_round included).
The SageMaker run's tuning jobs really train in the stack (docs/embedded-stack.md), and every
request the stack received is checked against botocore's service model (`validation_errors`
counts refusals of the product's requests).

Imports and one-time caches are paid before timing; the backends alternate (local first in
odd repeats, sagemaker first in even ones); each stage's figure is the median over repeats.

    .venv/bin/python benchmarks/production_path.py [--max-jobs 6] [--repeats 3]

Prints seconds per stage and backend (medians), the loop's wall time and the tune stage's
seconds per training job, then the last line:
`production_path tune_ratio=A loop_ratio=B validation_errors=V repeats=N` (A: sagemaker's
seconds per training job over local's; B: the loops' medians; targets A <= 1.5, B <= 1.3,
V = 0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from mmeops import aws  # noqa: E402
from mmeops.aws import split_s3_uri  # noqa: E402
from mmeops.config.repo import load_repo  # noqa: E402
from mmeops.deploy.invoke import invoke  # noqa: E402
from mmeops.deploy.promote import promote  # noqa: E402
from mmeops.deploy.reconcile import reconcile  # noqa: E402
from mmeops.extract.run import extract  # noqa: E402
from mmeops.register.run import register, training_aws  # noqa: E402
from mmeops.registry import describe  # noqa: E402
from mmeops.stack import demo_data, strict  # noqa: E402
from mmeops.stack.embedded import EmbeddedStack  # noqa: E402
from mmeops.tune.run import tune  # noqa: E402

MODELS = ("diabetes-progression", "breast-cancer")
BACKENDS = ("local", "sagemaker")
ENV = "sandbox"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@mmeops.invalid"]


def fresh_repo(tmp: Path) -> Path:
    root = tmp / "repo"
    root.mkdir()
    shutil.copy2(ROOT / "mmeops.yaml", root)
    for part in ("models", "environments"):
        shutil.copytree(ROOT / part, root / part)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run([*GIT, *args], cwd=root, check=True)
    return root


def sample(repo, model: str, version: int) -> bytes:
    """The rows registration kept for smoke tests: a request body the model accepts."""
    training = training_aws(repo)
    package = describe(training, model, version)
    assert package is not None
    return training.get_bytes(*split_s3_uri(package["CustomerMetadataProperties"]["sample_uri"]))[0]


class Run:
    """One backend's loop; `seconds[stage]` sums that stage over both models and rounds."""

    def __init__(self, backend: str, max_jobs: int):
        self.backend = backend
        self.max_jobs = max_jobs
        self.seconds: dict[str, float] = defaultdict(float)
        self.stages = 0
        self.jobs = 0
        self.wall = 0.0

    def timed(self, stage: str, fn):
        start = time.perf_counter()
        out = fn()
        self.seconds[stage] += time.perf_counter() - start
        self.stages += 1
        return out

    def round(self, root: Path, version: int) -> None:
        repo = load_repo(root)
        for model in MODELS:
            run_id = self.timed("extract", lambda m=model: extract(repo, m)).run_id
            tuned = self.timed(
                "tune",
                lambda m=model, r=run_id: tune(
                    repo, m, dataset=r, backend=self.backend, max_jobs=self.max_jobs
                ),
            )
            self.jobs += tuned.record.n_training_jobs
            if version > 1 and not tuned.record.parents:
                raise SystemExit(f"{model} v{version} was not warm-started")
            reg = self.timed("register", lambda m=model, j=tuned.record.job_name: register(
                repo, m, j, notify_topic=False))  # fmt: skip
            if reg.version != version:
                raise SystemExit(f"{model} registered as v{reg.version}, expected v{version}")
            promote(repo, model, version, ENV)
        subprocess.run([*GIT, "commit", "-qam", f"v{version}"], cwd=root, check=True)
        report = self.timed("reconcile", lambda: reconcile(load_repo(root), ENV, "apply"))
        if report.failed:
            raise SystemExit(f"reconcile failed: {report.summary()}")
        for model in MODELS:
            body = sample(repo, model, version)
            self.timed("invoke", lambda m=model, b=body: invoke(load_repo(root), ENV, m, b))

    def run(self) -> float:
        start = time.perf_counter()
        try:
            return self._run()
        finally:
            self.wall = time.perf_counter() - start

    def _run(self) -> float:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mmeops-bench-") as tmp:
            root = fresh_repo(Path(tmp))
            with EmbeddedStack(root) as stack:
                stack.apply_env()
                aws.reset_sessions()
                self.round(root, 1)
                self.timed("new rows", lambda: demo_data.arrive_new_rows(stack.dsn))
                self.round(root, 2)
        return time.perf_counter() - start


def warm_imports() -> None:
    """Pay every import and one-time cache before anything is timed: the first backend run
    would otherwise pay them for both (xgboost, optuna, the image URIs' data, the stack's
    training emulation and the fork server its training workers start from)."""
    import optuna  # noqa: F401
    import xgboost  # noqa: F401

    from mmeops.images import xgboost_image
    from mmeops.stack import training, training_pool, tuning  # noqa: F401
    from mmeops.tune import local, sagemaker  # noqa: F401

    xgboost_image("us-east-1", "3.2-0")
    training_pool.warm()  # the stack's fork server imports xgboost once per process


def median_of(runs: list[Run], stage: str) -> float:
    return statistics.median(r.seconds[stage] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-jobs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warm_imports()
    refused_before = len(strict.violations())
    runs: dict[str, list[Run]] = {b: [] for b in BACKENDS}
    for i in range(args.repeats):
        # Alternate which backend goes first: neither always meets a cold page cache.
        for backend in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
            run = Run(backend, args.max_jobs)
            run.run()
            runs[backend].append(run)
            print(f"repeat {i + 1} {backend:9s} wall {run.wall:6.1f}s, {run.jobs} training "
                  f"jobs, tune {run.seconds['tune']:.1f}s", flush=True)  # fmt: skip
    refused = len(strict.violations()) - refused_before
    jobs = {b: {r.jobs for r in rs} for b, rs in runs.items()}
    if jobs["local"] != jobs["sagemaker"] or len(jobs["local"]) != 1:
        raise SystemExit(f"the backends ran different numbers of training jobs: {jobs}")
    stages = sorted({s for rs in runs.values() for r in rs for s in r.seconds})
    print(f"\nmedians of {args.repeats} repeats, seconds")
    print(f"{'stage':<12}{'local':>10}{'sagemaker':>12}")
    for stage in stages:
        print(f"{stage:<12}{median_of(runs['local'], stage):>10.2f}"
              f"{median_of(runs['sagemaker'], stage):>12.2f}")  # fmt: skip
    wall = {b: statistics.median(r.wall for r in rs) for b, rs in runs.items()}
    per_job = {
        b: statistics.median(r.seconds["tune"] / r.jobs for r in rs) for b, rs in runs.items()
    }
    print(f"{'loop':<12}{wall['local']:>10.2f}{wall['sagemaker']:>12.2f}")
    print(f"{'s per job':<12}{per_job['local']:>10.2f}{per_job['sagemaker']:>12.2f}"
          f"   ({jobs['local'].pop()} training jobs per loop on each backend)")  # fmt: skip
    print(
        f"production_path tune_ratio={per_job['sagemaker'] / per_job['local']:.2f} "
        f"loop_ratio={wall['sagemaker'] / wall['local']:.2f} validation_errors={refused} "
        f"repeats={args.repeats}"
    )


if __name__ == "__main__":
    main()
