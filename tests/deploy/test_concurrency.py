"""Guarantee 4: four applies of one environment started at once.

One takes the lease; the others stop at once with LeaseHeld naming the holder and its age
(exit 1 in the CLI) and mutate nothing but their failed create-only write of the lease. The
work is done once (one copy per artifact), the final state is the desired one, and no
manifest the versioned bucket ever kept is torn or routes to a missing artifact.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from test_reconcile import SHA, World, add_model, isolate

from mmeops import aws
from mmeops.config.repo import load_repo
from mmeops.deploy.reconcile import Report, reconcile
from mmeops.errors import LeaseHeld, MmeopsError

# The slow tier (make test-slow; CI runs it):
# a race of concurrent applies.
pytestmark = pytest.mark.slow

ENV = "sandbox"
RUNS = 4
MODELS = 4


@pytest.fixture
def world(stack, repo_copy: Path, monkeypatch) -> World:
    monkeypatch.setenv("GITHUB_SHA", SHA)
    return World(repo_copy, isolate(repo_copy, "p"))


def test_four_simultaneous_applies_hold_the_lease_one_at_a_time(world: World) -> None:
    names = [f"p{world.uid}-{i}" for i in range(MODELS)]
    versions = {}
    for name in names:
        add_model(world, name)
        versions[name] = world.register(name)
    path = world.root / "environments" / f"{ENV}.yaml"
    pins = "".join(f"  {m}: {v}\n" for m, v in versions.items())
    path.write_text(path.read_text().replace("models: {}\n", f"models:\n{pins}"))

    start = threading.Barrier(RUNS)
    outcomes: dict[str, object] = {}
    mutations: Counter = Counter()
    lock = threading.Lock()

    prefix = world.env(ENV).artifact_key_prefix

    def count(service: str, op: str, params: dict) -> None:
        # The listener sees the whole process: S3 calls count only under this world's own
        # prefix (a front door left by an earlier test may still be flushing its capture).
        path = params.get("url_path", "")
        if aws.is_mutating(op) and (service != "s3" or prefix in path):
            lease = "_mmeops/lease.json" in path
            with lock:
                mutations["lease " + op if lease else op] += 1

    def run(owner: str) -> None:
        repo = load_repo(world.root)
        start.wait()
        try:
            outcomes[owner] = reconcile(repo, ENV, "apply", owner=owner)
        except (LeaseHeld, MmeopsError) as e:
            outcomes[owner] = e

    remove = aws.add_call_listener(count)
    try:
        threads = [threading.Thread(target=run, args=(f"worker-{i}",)) for i in range(RUNS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        remove()

    refused = {o: str(r) for o, r in outcomes.items() if isinstance(r, LeaseHeld)}
    applied = [o for o, r in outcomes.items() if isinstance(r, Report) and not r.plan.empty]
    # A loser slowed down enough (a loaded machine) to read the state only after the winner
    # released the lease finds nothing to do; one that read before the winner's manifest write
    # and took the lease after its release acts on that stale read (reconcile.still_current):
    # its endpoint create or its conditional manifest write is refused, nothing routed.
    late = [o for o, r in outcomes.items() if isinstance(r, Report) and r.plan.empty]
    stale = {
        o: str(r)
        for o, r in outcomes.items()
        if isinstance(r, MmeopsError) and not isinstance(r, LeaseHeld)
    }
    print(f"{RUNS} simultaneous applies: {len(applied)} applied, {len(refused)} refused, "
          f"{len(late)} late, {len(stale)} stale")  # fmt: skip
    assert len(outcomes) == RUNS and len(applied) == 1, outcomes
    for message in stale.values():
        assert "changed since it was read" in message or "already existing" in message, message
    for message in refused.values():
        # Each refusal names the run that held the lease at that moment, and its age.
        holder = re.search(r"owner (worker-\d), taken \d+s ago", message)
        assert holder and holder.group(1) in [*applied, *stale], message
    # Every take of the lease is released; the losers' create-only puts failed (412).
    assert mutations["lease PutObject"] >= RUNS - len(late)
    assert mutations["lease DeleteObject"] == len(applied) + len(stale)
    if not stale:
        # The work was done once: one copy per artifact, one manifest write, one endpoint.
        assert mutations["CopyObject"] == MODELS
        assert mutations["PutObject"] == 1 and mutations["CreateEndpoint"] == 1

    assert {m: e["version"] for m, e in world.manifest(ENV)["models"].items()} == versions
    world.mmeops("reconcile", ENV, "--check")
    assert manifests_never_torn(world) >= 1


def manifests_never_torn(world: World) -> int:
    """Every manifest version the versioned bucket kept parses and routes only to artifacts
    that exist; returns how many there are."""
    e = world.env(ENV)
    env_aws = world.admin(e.account_id)  # every version: more than the deployer may list
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    listed = env_aws.call("s3", "list_object_versions", Bucket=e.artifact_bucket, Prefix=key)
    existing = {o.key for o in env_aws.list_objects(e.artifact_bucket, e.artifact_key_prefix)}
    versions = [v for v in listed.get("Versions", []) if v["Key"] == key]
    for v in versions:
        body = env_aws.call(
            "s3", "get_object", Bucket=e.artifact_bucket, Key=key, VersionId=v["VersionId"]
        )["Body"].read()
        manifest = json.loads(body)
        for entry in manifest["models"].values():
            assert e.artifact_key_prefix + entry["target_model"] in existing, entry
    return len(versions)
