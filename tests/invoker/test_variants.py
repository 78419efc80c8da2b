"""Issue 25, items 2-4 end to end on the embedded stack: a canary and a shadow named in the
environment file are deployed, kept by pruning, routed by the manifest's `variants`, split
deterministically by the front door, mirrored without touching the client's answer, measured
per model in EMF and captured in SageMaker Data Capture's record format."""

from __future__ import annotations

import json

import pytest
from test_front_door import Door, direct_target, new_world, route_to

from deploy.test_reconcile import add_model
from mmeops.artifact import pack_file
from mmeops.deploy.manifest import Variant, read_manifest

CHAMPION_KEYS = ["target_model", "version", "package_arn", "sha256", "size", "feature_names",
                 "feature_count"]  # fmt: skip


# The slow tier (make test-slow; CI runs it): canary and shadow routing through a front door.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def split(stack, tmp_path_factory):
    """v1 champion, v2 canary at 50%, v3 shadow mirroring every request, capture of all, in a
    sandbox that keeps only one version beyond those it names."""
    world = new_world(tmp_path_factory, "sp")
    env_file = world.root / "environments" / "sandbox.yaml"
    env_file.write_text(env_file.read_text().replace("retention: 3", "retention: 1"))
    m = f"m{world.uid}-sp"
    add_model(world, m)
    versions = [world.register(m, seed=s) for s in (1, 2, 3)]
    world.mmeops("promote", m, str(versions[0]), "--to", "sandbox")
    world.mmeops("reconcile", "sandbox", "--apply")
    before = world.manifest("sandbox")["models"][m]
    world.mmeops("promote", m, "--canary", str(versions[1]), "--weight", "50", "--to", "sandbox")
    world.mmeops("promote", m, "--shadow", str(versions[2]), "--sample", "1", "--to", "sandbox")
    env_file.write_text(env_file.read_text() + "capture: {sample: 1.0}\n")
    plan = world.mmeops("reconcile", "sandbox", "--plan", "--output", "json")
    world.mmeops("reconcile", "sandbox", "--apply")
    return world, m, versions, before, plan


def test_the_plan_shows_the_split_and_apply_deploys_every_named_version(split):
    world, m, (v1, v2, v3), before, plan = split
    assert f"canary v{v2} 50%, shadow v{v3} 100% mirrored, capture 100%" in plan
    entry = world.manifest("sandbox")["models"][m]
    # The champion's part is what it was, byte for byte; the variants are added beside it.
    assert {k: entry[k] for k in CHAMPION_KEYS} == {k: before[k] for k in CHAMPION_KEYS}
    assert list(entry)[: len(CHAMPION_KEYS)] == CHAMPION_KEYS
    assert entry["variants"]["canary"]["version"] == v2
    assert entry["variants"]["canary"]["weight"] == 50
    assert entry["variants"]["shadow"]["target_model"] == f"{m}/v{v3}.tar.gz"
    assert entry["capture"] == {"sample": 1.0}
    # retention: 1, and still every named version is kept.
    e = world.env("sandbox")
    keys = {
        o.key
        for o in world.env_aws("sandbox").list_objects(e.artifact_bucket, e.artifact_key_prefix + m)
    }
    assert {f"{e.artifact_key_prefix}{m}/v{v}.tar.gz" for v in (v1, v2, v3)} <= keys
    world.mmeops("reconcile", "sandbox", "--check")  # converged: exit 0
    routes = world.mmeops("routes", "sandbox")
    assert f"split (the front door, `mmeops invoker sandbox`): canary v{v2} 50%" in routes


def test_route_keys_split_deterministically_and_each_variant_answers_with_its_version(
    split, tmp_path
):
    world, m, (v1, v2, v3), _, _ = split
    door = Door(world, metrics=tmp_path / "metrics.jsonl")
    try:
        answers = {k: door.post(m, "0.5,-1,2", X_Route_Key=f"customer-{k}")[1] for k in range(40)}
        again = {k: door.post(m, "0.5,-1,2", X_Route_Key=f"customer-{k}")[1] for k in range(40)}
        front = door.server.door
        assert front.sidecar.drain()
        front.capture.flush()
    finally:
        door.close()
    by_variant = {a["variant"] for a in answers.values()}
    assert by_variant == {"champion", "canary"}
    assert 8 <= sum(a["variant"] == "canary" for a in answers.values()) <= 32
    assert all(again[k]["variant"] == answers[k]["variant"] for k in answers)  # sticky keys
    for a in answers.values():
        version = v2 if a["variant"] == "canary" else v1
        assert a["version"] == version
        assert a["predictions"] == direct_target(world, f"{m}/v{version}.tar.gz", b"0.5,-1,2")
    assert {a["version"] for a in answers.values()} == {v1, v2}  # the shadow never answers

    # Metrics: one EMF line per call, the shadow's included, dimensions as CloudWatch reads them.
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 160  # 80 answers + 80 mirrored calls
    first = lines[0]["_aws"]["CloudWatchMetrics"][0]
    assert first["Namespace"] == "mmeops"
    assert first["Dimensions"] == [["Environment", "Model", "Version", "Variant"]]
    shadows = [x for x in lines if x["Variant"] == "shadow"]
    assert len(shadows) == 80 and {x["Version"] for x in shadows} == {str(v3)}
    assert all(x["Invocations"] == 1 and x["Errors"] == 0 and x["ModelLatency"] > 0 for x in lines)

    # Capture: Data Capture records under capture/<env>/<model>/v<version>/<variant>/Y/M/D/H/.
    e = world.env("sandbox")
    a = world.env_aws("sandbox")
    objects = a.list_objects(e.artifact_bucket, f"capture/sandbox/{m}/")
    records = []
    for o in objects:
        assert a.head(e.artifact_bucket, o.key)["ServerSideEncryption"] == "aws:kms"
        parts = o.key.split("/")
        assert parts[3] in {f"v{v}" for v in (v1, v2, v3)} and parts[4] in {
            "champion",
            "canary",
            "shadow",
        }
        assert len(parts) == 10 and parts[-1].endswith(".jsonl")
        body, _ = a.get_bytes(e.artifact_bucket, o.key)
        records += [json.loads(x) for x in body.splitlines()]
    assert len(records) == 160
    r = records[0]
    assert r["eventVersion"] == "0"
    assert r["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "0.5,-1,2",
        "encoding": "CSV",
    }
    assert set(r["eventMetadata"]) == {"eventId", "inferenceId", "inferenceTime"}
    # endpointOutput is what the model answered (a JSON array), not the front door's reply.
    outputs = [json.loads(x["captureData"]["endpointOutput"]["data"]) for x in records]
    assert all(isinstance(o, list) and len(o) == 1 for o in outputs)
    # The shadow's record of a request carries the same inference id as the answer's.
    ids = {}
    for rec in records:
        ids.setdefault(rec["eventMetadata"]["inferenceId"], set()).add(rec["mmeops"]["variant"])
    assert all("shadow" in v and len(v) == 2 for v in ids.values())


def test_a_failing_shadow_never_touches_the_clients_answer(split, tmp_path):
    world, m, (v1, _, v3), _, _ = split
    e = world.env("sandbox")
    broken = f"{m}/v999.tar.gz"
    world.env_aws("sandbox").put_bytes(
        e.artifact_bucket, e.artifact_key_prefix + broken, pack_file(b"not a model")
    )
    a = world.env_aws("sandbox")
    key = e.artifact_key_prefix + "_mmeops/manifest.json"
    manifest, _ = read_manifest(a, e.artifact_bucket, key)
    entry = manifest.models[m]
    shadow = Variant("shadow", 999, broken, "arn", "0" * 64, 1, 1.0)
    canary = entry.variant("canary")
    from dataclasses import replace

    route_to(world, m, replace(entry, variants=(replace(canary, share=0), shadow)))
    door = Door(world, metrics=tmp_path / "metrics.jsonl")
    try:
        import time

        deadline = time.monotonic() + 5
        while True:
            status, answer, _ = door.post(m, "1,2,3")
            assert status == 200 and answer["variant"] == "champion"
            door.server.door.sidecar.drain()
            text = (tmp_path / "metrics.jsonl").read_text()
            if '"Version":"999"' in text:
                break
            assert time.monotonic() < deadline, "the new manifest was not served"
    finally:
        door.close()
        route_to(world, m, entry)
    failed = [json.loads(x) for x in text.splitlines() if '"Version":"999"' in x]
    assert failed[0]["Errors"] == 1 and failed[0]["ModelErrors"] == 1
    assert failed[0]["ErrorCode"] == "ModelError"


def test_an_unregistered_canary_is_refused_at_its_line(split):
    world, m, (_, v2, _), _, _ = split
    path = world.root / "environments" / "sandbox.yaml"
    original = path.read_text()
    path.write_text(original.replace(f"canary: {{version: {v2},", "canary: {version: 77,"))
    try:
        out = world.mmeops("reconcile", "sandbox", "--plan", code=2)
    finally:
        path.write_text(original)
    line = next(n for n, x in enumerate(original.splitlines(), 1) if "canary:" in x)
    assert f"canary: {{version: {v2}," in original
    assert f"sandbox.yaml:{line}: {m} v77 is not in the registry" in out


def test_the_canary_report_judges_from_capture_with_exit_3_or_4(split, tmp_path):
    """v2 (the canary) was trained on other data and answers other numbers for the same row:
    its prediction distribution fails against the champion's (exit 3); asked for more
    requests than were captured, the verdict is "not enough data" (exit 4)."""
    world, m, (v1, v2, v3), _, _ = split
    door = Door(world)
    try:
        for k in range(40):
            door.post(m, "0.5,-1,2", X_Route_Key=f"report-{k}")
        assert door.server.door.sidecar.drain()
        door.server.door.capture.flush()
    finally:
        door.close()
    out = world.mmeops("canary", "sandbox", m, "--min-requests", "10", code=3)
    assert out.startswith(f"sandbox {m}: fail")
    assert f"canary v{v2} vs champion v{v1}: fail" in out
    assert "prediction distribution: fail: KS distance 1.000" in out
    assert f"shadow v{v3} vs champion v{v1}" in out and "agreement: pass" in out
    out = world.mmeops("canary", "sandbox", m, "--min-requests", "100000", code=4)
    assert "not enough data" in out
