"""The production path, end to end on the embedded stack: `--backend sagemaker` against the
same loop with `--backend local`, measured in the same run.

For each backend, on a fresh embedded stack and a fresh git copy of the repository, for both
demo models: extract → tune (cold) → register → pin in sandbox, reconcile, invoke → new rows
arrive → extract → tune (warm-started from the first job) → register → promote, reconcile,
invoke. Every stage is timed; the SageMaker run's tuning jobs really train in the stack
(docs/embedded-stack.md), and every request the stack received is checked against botocore's
service model (`validation_errors` counts refusals of the product's requests).

    .venv/bin/python benchmarks/production_path.py [--max-jobs 6]

Prints a table of seconds per stage and backend, then the last line:
`production_path stages=N sagemaker_jobs=J wall_s=T validation_errors=V local_wall_s=L
ratio=R` (targets: V = 0 and R = T / L <= 2).
"""

from __future__ import annotations

import argparse
import os
import shutil
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
        with tempfile.TemporaryDirectory(prefix="mmeops-bench-") as tmp:
            root = fresh_repo(Path(tmp))
            with EmbeddedStack(root) as stack:
                stack.apply_env()
                aws.reset_sessions()
                self.round(root, 1)
                self.timed("new rows", lambda: demo_data.arrive_new_rows(stack.dsn))
                self.round(root, 2)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-jobs", type=int, default=6)
    args = ap.parse_args()
    refused_before = len(strict.violations())
    runs = {b: Run(b, args.max_jobs) for b in ("local", "sagemaker")}
    wall = {b: run.run() for b, run in runs.items()}
    refused = len(strict.violations()) - refused_before
    stages = sorted({s for r in runs.values() for s in r.seconds})
    print(f"{'stage':<12}{'local s':>10}{'sagemaker s':>14}")
    for stage in stages:
        print(f"{stage:<12}{runs['local'].seconds[stage]:>10.1f}"
              f"{runs['sagemaker'].seconds[stage]:>14.1f}")  # fmt: skip
    print(f"{'total':<12}{wall['local']:>10.1f}{wall['sagemaker']:>14.1f}")
    sm = runs["sagemaker"]
    print(
        f"production_path stages={sm.stages} sagemaker_jobs={sm.jobs} "
        f"wall_s={wall['sagemaker']:.1f} validation_errors={refused} "
        f"local_wall_s={wall['local']:.1f} ratio={wall['sagemaker'] / wall['local']:.2f}"
    )


if __name__ == "__main__":
    main()
