"""Guarantee 2: a crash at any moment leaves a state the next apply repairs, and nothing the
routing manifest points at is ever missing.

An apply of 11 actions (copies, approvals, a model removal, the manifest, an endpoint config
rollout to two instances, smoke tests, prunes) runs in a child process (`mmeops reconcile qa
--apply --prune`) against the session's moto server. The child kills itself with SIGKILL
right before its (k+1)-th mutating AWS call, for every k from the lease's take (k=1) to the
last call before the lease's release: a real stop, with any concurrent request in flight. After
each crash: the manifest routes only to artifacts that exist with the checksum it records, the
dead run's lease is still there, a runner with another owner is refused with a message saying
how to take over, and the re-run of the same workflow run (same owner) takes the lease over
and converges in one apply (`--check` in sync).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_reconcile import SHA, World, add_model, isolate

from crashing import run_cli_crashing
from mmeops import aws
from mmeops.config.repo import load_repo
from mmeops.deploy.reconcile import reconcile
from mmeops.errors import LeaseHeld

# The slow tier (make test-slow; CI runs it): an apply killed and re-run.
pytestmark = pytest.mark.slow

# Children fork from a server that imported mmeops once: a crash point costs a fork, not a
# Python start-up. Each runs `mmeops ARGS` and SIGKILLs itself before mutating call k+1.
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(
    ["mmeops.cli", "mmeops.deploy.reconcile", "mmeops.deploy.render", "rich.table"]
)

ENV = "qa"


class Scenario:
    """One qa environment of its own (prefix, endpoint, models) brought to the state before
    the apply under test: a at v2 (v1 retained), b and c at v1; then the file asks for a v3,
    b v2, c removed, and two instances (a new endpoint config rolled out)."""

    def __init__(self, base: Path, tmp: Path, k: int):
        root = tmp / f"crash-{k}"
        shutil.copytree(base, root)
        uid = isolate(root, "c")
        qa = root / "environments" / f"{ENV}.yaml"
        qa.write_text(
            qa.read_text()
            .replace("promotion_from: sandbox", "promotion_from: null")
            .replace("retention: 3", "retention: 2")
        )
        self.k = k
        self.world = World(root, uid)
        self.a, self.b, self.c = (f"k{uid}-{x}" for x in "abc")
        for name in (self.a, self.b, self.c):
            add_model(self.world, name)
        w = self.world
        self.v = {
            "a": [w.register(self.a, seed=i) for i in (1, 2, 3)],
            "b": [w.register(self.b, seed=i) for i in (1, 2)],
            "c": [w.register(self.c, seed=1)],
        }
        self.pin({self.a: 1, self.b: 1, self.c: 1})
        w.mmeops("reconcile", ENV, "--apply")
        self.pin({self.a: 2, self.b: 1, self.c: 1})
        w.mmeops("reconcile", ENV, "--apply")
        self.pin({self.a: 3, self.b: 2})
        qa.write_text(qa.read_text().replace("  instance_count: 1\n", "  instance_count: 2\n"))

    def pin(self, versions: dict[str, int]) -> None:
        qa = self.world.root / "environments" / f"{ENV}.yaml"
        head = qa.read_text().split("models:")[0]
        lines = "".join(f"  {m}: {self.version(m, v)}\n" for m, v in versions.items())
        qa.write_text(f"{head}models:\n{lines}")

    def version(self, model: str, n: int) -> int:
        """The registry version of the n-th package registered for `model`."""
        return self.v[model[-1]][n - 1]

    def crash(self) -> str:
        """Run the apply in a child process killed before mutating call k+1; its output."""
        out = self.world.root / "child.log"
        env = {"GITHUB_RUN_ID": str(self.k), "GITHUB_REPOSITORY": "octo/mmeops", "GITHUB_SHA": SHA}
        argv = ["--repo", str(self.world.root), "reconcile", ENV, "--apply", "--prune"]
        child = FORKS.Process(target=run_cli_crashing, args=(argv, env, self.k, str(out)))
        child.start()
        child.join()
        assert child.exitcode == -signal.SIGKILL, (self.k, child.exitcode, out.read_text())
        return out.read_text()


def routed_artifacts_exist(world: World) -> dict[str, int]:
    """The invariant: the live manifest parses and each model it routes to has its artifact,
    byte for byte the one it records. Returns model -> routed version."""
    e = world.env(ENV)
    env_aws = world.env_aws(ENV)
    try:
        manifest = world.manifest(ENV)
    except aws.NotFound:
        return {}
    for name, entry in manifest["models"].items():
        key = e.artifact_key_prefix + entry["target_model"]
        body, _ = env_aws.get_bytes(e.artifact_bucket, key)  # NotFound fails the test
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], (name, key)
        assert len(body) == entry["size"]
    return {name: entry["version"] for name, entry in manifest["models"].items()}


def every_manifest_version_parses(world: World) -> int:
    e = world.env(ENV)
    env_aws = world.admin(e.account_id)  # the manifest's old versions: no product role lists them
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    versions = env_aws.call("s3", "list_object_versions", Bucket=e.artifact_bucket, Prefix=key).get(
        "Versions", []
    )
    for v in versions:
        body = env_aws.call(
            "s3", "get_object", Bucket=e.artifact_bucket, Key=key, VersionId=v["VersionId"]
        )["Body"].read()
        assert set(json.loads(body)["models"]) <= {"k" + world.uid + s for s in ("-a", "-b", "-c")}
    return len(versions)


# Lease put, 2 copies, 2 approvals, manifest, endpoint config + update, 2 deletes, lease
# delete: crash points 1..10 stop the child before each of the last 10.
MUTATING_CALLS = 11


@pytest.mark.slow  # a kill loop: ten scenarios, each built, killed and re-run
def test_a_crash_before_any_mutating_call_is_repaired_by_the_next_apply(
    stack, repo_copy: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    points = range(1, MUTATING_CALLS)
    # Each scenario's child crashes while the next scenario is being built.
    with ThreadPoolExecutor(max_workers=2) as pool:
        crashes = []
        for k in points:
            s = Scenario(repo_copy, tmp_path, k)
            crashes.append((s, pool.submit(s.crash)))
        outputs = [(s, crash.result()) for s, crash in crashes]

    converged = 0
    for s, out in outputs:
        w, e = s.world, s.world.env(ENV)
        assert "Traceback" not in out, out
        # After the crash: the manifest routes to artifacts that exist, old or new.
        routed = routed_artifacts_exist(w)
        assert routed[s.a] in (s.version(s.a, 2), s.version(s.a, 3)), s.k
        # The dead run's lease is still there. Another owner with work to do is told how to
        # take over; with nothing left to do (only the release was), it needs no lease.
        lease_key = e.artifact_key_prefix + "_mmeops/lease.json"
        assert w.env_aws(ENV).head(e.artifact_bucket, lease_key) is not None, s.k
        repo, alice = load_repo(w.root), "alice@laptop pid 1"
        if reconcile(repo, ENV, "plan", prune=True).plan.empty:
            assert reconcile(repo, ENV, "apply", prune=True, owner=alice).in_sync
            assert w.env_aws(ENV).head(e.artifact_bucket, lease_key) is not None, s.k
        else:
            with pytest.raises(LeaseHeld, match=r"owner octo/mmeops run \d+, taken .* ago.*re-run"):
                reconcile(repo, ENV, "apply", prune=True, owner=alice)
        # The re-run of the same workflow run takes its own lease over (or clears it when
        # nothing is left to do) and converges.
        monkeypatch.setenv("GITHUB_RUN_ID", str(s.k))
        monkeypatch.setenv("GITHUB_REPOSITORY", "octo/mmeops")
        w.mmeops("reconcile", ENV, "--apply", "--prune")
        monkeypatch.delenv("GITHUB_RUN_ID")
        w.mmeops("reconcile", ENV, "--check")
        assert routed_artifacts_exist(w) == {s.a: s.version(s.a, 3), s.b: s.version(s.b, 2)}
        assert w.env_aws(ENV).head(e.artifact_bucket, lease_key) is None
        for model in (s.a, s.b):
            approved = w.package(model, routed_artifacts_exist(w)[model])
            assert approved["ModelApprovalStatus"] == "Approved"
        assert every_manifest_version_parses(w) >= 3
        assert w.invoke(ENV, s.a).strip()
        converged += 1
    print(f"{len(points)} crash points, all converged in 1 apply")
    assert converged == len(points)


def test_the_scenario_makes_eleven_actions_and_eleven_mutating_calls(
    stack, repo_copy: Path, tmp_path: Path, monkeypatch
) -> None:
    """The crash points above cover the whole apply: its plan and its mutating calls."""
    monkeypatch.setenv("GITHUB_SHA", SHA)
    s = Scenario(repo_copy, tmp_path, 0)
    the_plan = reconcile(load_repo(s.world.root), ENV, "plan", prune=True).plan
    assert Counter(type(a).__name__ for a in the_plan.actions) == {
        "CopyArtifact": 2,
        "MirrorApproval": 2,
        "RemoveModel": 1,
        "WriteManifest": 1,
        "UpdateEndpointConfig": 1,
        "SmokeTest": 2,
        "PruneArtifact": 2,
    }
    calls: list[str] = []
    remove = aws.add_call_listener(lambda svc, op, p: calls.append(op))
    try:
        s.world.mmeops("reconcile", ENV, "--apply", "--prune")
    finally:
        remove()
    mutating = [op for op in calls if aws.is_mutating(op)]
    assert len(mutating) == MUTATING_CALLS, mutating
