"""`mmeops reconcile ENV --plan | --apply | --check`: desired + remote -> plan -> executor.

`--plan` and `--apply` share everything but the executor (display-only or real). `--apply`
validates the plan before taking the environment's lease (bad input writes nothing), then holds
the lease for the whole run, plans again under it, and releases it whatever happens. `--check`
reads more (every pinned version, every live checksum) and reports drift instead of acting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mmeops import aws as aws_mod
from mmeops.config.repo import Repo
from mmeops.deploy.desired import Desired, load_desired
from mmeops.deploy.executor import DisplayExecutor, Executor, ModelResult
from mmeops.deploy.lease import Lease, default_owner
from mmeops.deploy.planner import Plan, Status, drift, plan
from mmeops.deploy.remote import Remote, read_remote

MODES = ("plan", "apply", "check")


@dataclass(frozen=True)
class Report:
    env: str
    mode: str
    git_sha: str
    results: tuple[ModelResult, ...] = ()
    drift: tuple[str, ...] = ()
    plan: Plan | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> list[ModelResult]:
        return [r for r in self.results if r.status is Status.SYNC_FAILED]

    @property
    def counts(self) -> Counter:
        return Counter(r.status.value for r in self.results)

    @property
    def in_sync(self) -> bool:
        return not self.drift and all(
            r.status in (Status.SYNCED, Status.PRUNED) for r in self.results
        )

    def summary(self) -> str:
        """One line, status first."""
        if self.mode == "check":
            return (
                f"{self.env}: in sync"
                if not self.drift
                else f"{self.env}: drift detected ({len(self.drift)} differences)"
            )
        if self.failed:
            return f"{self.env}: sync failed for {', '.join(r.model for r in self.failed)}"
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        verb = "plan" if self.mode == "plan" else "applied"
        return f"{self.env}: {verb}: {parts or 'no models'}"


def accounts(
    repo: Repo, desired: Desired, read_only: bool = False
) -> tuple[aws_mod.Aws, aws_mod.Aws]:
    """(the environment's account, the registry's account), each through its role. Reads
    reach the registry through training.registry_role_arn (plans and checks run with the
    environment's reader role, which may assume only that read-only role), applies through
    training.approver_role_arn (the deployer role may assume only that one); either unset:
    the training role."""
    t = repo.settings.training
    role = (t.registry_role_arn if read_only else t.approver_role_arn) or t.role_arn
    registry = aws_mod.for_account(t.account_id, desired.registry_region, role)
    env_aws = aws_mod.for_account(desired.account_id, desired.region, desired.role_arn)
    return env_aws, registry


def reconcile(
    repo: Repo,
    env_name: str,
    mode: str = "plan",
    *,
    prune: bool = False,
    owner: str | None = None,
    workers: int = 16,
    git_sha: str | None = None,
    poll_seconds: float = 15.0,
) -> Report:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    desired = load_desired(repo, env_name, git_sha)
    env_aws, registry = accounts(repo, desired, read_only=mode != "apply")
    if mode == "check":
        remote = read_remote(env_aws, registry, desired, verify_all=True, workers=workers)
        the_plan = plan(desired, remote, prune=prune)
        results = DisplayExecutor().run(the_plan)
        return Report(
            env_name,
            mode,
            desired.git_sha,
            tuple(results),
            tuple(drift(desired, remote, the_plan)),
            the_plan,
        )
    if mode == "plan":
        remote = read_remote(env_aws, registry, desired, workers=workers)
        the_plan = plan(desired, remote, prune=prune)
        return Report(
            env_name, mode, desired.git_sha, tuple(DisplayExecutor().run(the_plan)), (), the_plan
        )
    # Read and validate before taking the lease: bad input (a policy violation, a version
    # missing from the registry or Rejected) exits 2 with no write at all, and an environment
    # already in sync needs no lease: a no-op apply makes no mutating call.
    seen = read_remote(env_aws, registry, desired, workers=workers)
    first = plan(desired, seen, prune=prune)
    lease = Lease(env_aws, desired.bucket, desired.lease_key, owner or default_owner())
    if first.empty:
        if seen.lease_seen:
            lease.clear_own()  # a re-run after our own crash at the very end: tidy up
        results = DisplayExecutor().run(first)
        return Report(env_name, mode, desired.git_sha, tuple(results), (), first)
    with lease:
        remote = still_current(env_aws, registry, desired, seen, workers)
        the_plan = first if remote is seen else plan(desired, remote, prune=prune)
        executor = Executor(env_aws, registry, desired, workers=workers, poll_seconds=poll_seconds)
        results = executor.run(the_plan)
    return Report(env_name, mode, desired.git_sha, tuple(results), (), the_plan)


def still_current(
    env_aws: aws_mod.Aws, registry: aws_mod.Aws, desired: Desired, seen: Remote, workers: int
) -> Remote:
    """The remote state once the lease is ours. Every apply that changes what is served ends
    with a conditional write of the manifest, so a manifest with the ETag read before means
    the state read before still stands (one HEAD); otherwise read everything again. What an
    apply that crashed before its manifest write left behind (a copied artifact) is harmless
    to a plan made before it: copies are of immutable sources, prunes skip what they miss.

    When the listing showed no lease, no apply was running as the state was read, and no HEAD
    is paid: one that ran whole between that read and our take has rewritten the manifest, so
    this run's conditional manifest write (If-Match on the ETag read) fails before routing
    anything ("run reconcile again"), and what it did before (copies of immutable sources,
    approvals and smoke tests of the versions the file pins) is harmless."""
    if not seen.lease_seen:
        return seen
    head = env_aws.head(desired.bucket, desired.manifest_key)
    if (head or {}).get("ETag") == seen.manifest_etag:
        return seen
    return read_remote(env_aws, registry, desired, workers=workers)
