"""Issue 25, item 5: the plan of a pull request that makes a live canary the champion shows
`mmeops canary`'s verdict and figures, read from capture as the plan job reads it on GitHub:
as the environment's reader role (the `ENV-readonly` web-identity exchange), on the stack that
enforces IAM with infra/bootstrap.yaml's policies (ReaderRole's ListCapture and ReadCapture).

The mutation: the reader policy without those two statements, as it was before; S3 then
refuses the capture listing (403 AccessDenied) and the plan says the capture was not read.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from click.testing import CliRunner

from deploy.test_reconcile import add_model
from invoker.test_front_door import Door, new_world
from mmeops import aws
from mmeops.cli import main
from mmeops.deploy.manifest import read_manifest
from mmeops.extract.run import Window
from mmeops.monitor.captured import read_captured
from mmeops.stack.iam import middleware
from stack.test_iam_paths import _policy, _put_policy, as_workflow

REQUESTS = 240


@pytest.fixture(scope="module")
def canaried(stack, tmp_path_factory):
    """v1 champion, v2 canary at 50% with every request captured, traffic through the front
    door; then the pull request's change: v2 promoted to `version` (the canary ends)."""
    world = new_world(tmp_path_factory, "cp")
    env_file = world.root / "environments" / "sandbox.yaml"
    m = f"m{world.uid}-cp"
    add_model(world, m)
    v1, v2 = (world.register(m, seed=s) for s in (1, 2))
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    world.mmeops("promote", m, "--canary", str(v2), "--weight", "50", "--to", "sandbox")
    env_file.write_text(env_file.read_text() + "capture: {sample: 1.0}\n")
    world.mmeops("reconcile", "sandbox", "--apply")
    sent = _traffic(world, m)
    world.mmeops("promote", m, str(v2), "--to", "sandbox")
    return world, m, v1, v2, sent


def _traffic(world, m: str) -> dict[str, tuple[str, list[float], float]]:
    """inference id -> (variant, the row sent, the prediction answered)."""
    rows = np.random.default_rng(3).normal(size=(REQUESTS, 3)).round(3)
    rows[::7, 1] = np.nan  # an empty field: a missing value the container scores
    bodies = [",".join("" if np.isnan(v) else f"{v:.3f}" for v in row) for row in rows]
    answers = post_all(world, m, [(b, {"X_Route_Key": f"c{i}"}) for i, b in enumerate(bodies)])
    sent = {}
    for row, answer in zip(rows, answers, strict=True):
        (p,) = answer["predictions"]
        sent[answer["inference_id"]] = (answer["variant"], list(row), float(np.ravel(p)[0]))
    return sent


def post_all(world, model: str, requests: list[tuple[str, dict]]) -> list[dict]:
    """POST each (body, headers) through a front door of sandbox (as its Lambda role): the
    answers, in order, once the door is closed (every shadow call ended, the capture
    written)."""
    door, answers = Door(world), []
    try:
        for body, headers in requests:
            status, answer, _ = door.post(model, body, **headers)
            assert status == 200, answer
            answers.append(answer)
    finally:
        door.close()
    return answers


def _as_reader(stack, monkeypatch, world, *args: str) -> tuple[int, str]:
    """`mmeops ARGS` in a job of `sandbox-readonly` (a plan's job): the reader role."""
    env = world.env("sandbox")
    as_workflow(stack, monkeypatch, env.reader_role_arn, "sandbox-readonly")
    result = CliRunner().invoke(main, ["--repo", str(world.root), *args])
    problem = "" if isinstance(result.exception, SystemExit) else str(result.exception or "")
    return result.exit_code, result.output + problem


PLAN = ("reconcile", "sandbox", "--plan", "--output", "markdown")


def test_the_plan_shows_the_canary_verdict_and_its_figures(stack, monkeypatch, canaried):
    world, m, v1, v2, _ = canaried
    canary_code, canary = _as_reader(stack, monkeypatch, world, "canary", "sandbox", m)
    code, out = _as_reader(stack, monkeypatch, world, *PLAN)
    assert code == 0, out
    # What `mmeops canary` says (its exit code is its verdict) is what the reviewer sees.
    verdict = {0: "pass", 3: "fail", 4: "not enough data"}[canary_code]
    head = f"**Canary verdict** for `{m}` (canary v{v2} → champion): **{verdict}**"
    assert head in out, out
    (line,) = [x for x in out.splitlines() if head in x]
    mine, theirs = (int(n) for n in line.split("(")[2].split(" captured")[0].split(" and "))
    assert mine + theirs == REQUESTS and min(mine, theirs) > 0  # every request was captured
    figures = [x.strip() for x in canary.splitlines()[2:]]
    assert figures and all(f"- {f}" in out for f in figures), (figures, out)
    assert "KS distance" in out and "p99 latency" in out


def test_the_plan_says_so_when_the_reader_may_not_read_capture(stack, monkeypatch, canaried):
    world, m, _, v2, _ = canaried
    account, name = world.env("sandbox").account_id, "mmeops-reader"
    doc = _policy(stack, account, name, name)
    was = {**doc, "Statement": [s for s in doc["Statement"]
                                if s.get("Sid") not in ("ListCapture", "ReadCapture")]}  # fmt: skip
    assert len(was["Statement"]) == len(doc["Statement"]) - 2
    _put_policy(stack, account, name, name, was)
    try:
        with middleware.expecting() as log:
            code, out = _as_reader(stack, monkeypatch, world, *PLAN)
    finally:
        _put_policy(stack, account, name, name, doc)
    assert code == 0, out  # the plan itself stands
    assert f"⚠️ **Canary verdict** for `{m}` (canary v{v2} → champion): capture not read" in out
    assert "s3:ListBucket" in out and "pass" not in out.split("capture not read")[1][:200]
    assert [d.action for d in log.denied] == ["s3:ListBucket"]


def test_monitoring_reads_what_clients_sent_the_champion_from_capture(stack, monkeypatch, canaried):
    """Issue 25, item 4 (capture as monitor's source): the reader role reads the champion's
    capture as rows in the manifest's column order, each with its answer and inference id."""
    world, m, v1, _, sent = canaried
    env = world.env("sandbox")
    as_workflow(stack, monkeypatch, env.reader_role_arn, "sandbox-readonly")
    reader = aws.for_account(env.account_id, env.region, env.role_arn)
    manifest, _ = read_manifest(reader, env.artifact_bucket,
                                env.artifact_key_prefix + "_mmeops/manifest.json")  # fmt: skip
    entry = manifest.models[m]
    today = dt.datetime.now(dt.timezone.utc).date()
    window = Window(today, today + dt.timedelta(days=1))
    got = read_captured(reader, env.artifact_bucket, "sandbox", m, entry, window)
    champion = {i: s for i, s in sent.items() if s[0] == "champion"}
    assert got.rows == len(champion) and got.skipped == 0
    assert got.features == tuple(entry.feature_names)
    for i, row, p in zip(got.inference_ids, got.matrix, got.predictions, strict=True):
        _, want_row, want_p = champion[i]
        np.testing.assert_array_equal(row, want_row)  # NaN where the field was empty
        assert p == pytest.approx(want_p)
    # The window is the capture's UTC days: yesterday's window holds none of it.
    before = Window(today - dt.timedelta(days=1), today)
    assert read_captured(reader, env.artifact_bucket, "sandbox", m, entry, before).rows == 0
