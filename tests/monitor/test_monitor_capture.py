"""Issue 25 item 4 (and 26): capture as `mmeops monitor`'s source. The served model of
tests/monitor/conftest.py, its environment capturing every request (`capture: {sample: 1.0}`);
requests go through a real front door running as its own role (infra/invoker.yaml's Lambda role),
so what monitor reads back is what the invoker wrote. `monitor.source` in model.yaml picks
the source; labels.sql joins ground truth on the inference id.

Capture is keyed by the UTC day it was written: every scenario here lands today, so the tests
run in file order and the one that sends drifted traffic comes last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import types

import numpy as np
import psycopg2
import pytest
from click.testing import CliRunner

from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.deploy.reconcile import reconcile
from mmeops.monitor import html, report
from mmeops.monitor.history import history_key
from mmeops.monitor.run import monitor
from mmeops.stack.embedded import EmbeddedStack
from mmeops.stack.iam import middleware
from monitor.served_model import FEATURES, TODAY, Served, rows
from monitor.test_canary_plan import post_all
from stack.test_iam_paths import _policy, _put_policy, as_workflow

CLEAN = 160  # requests from the training distribution, one row each
LABELED = 120  # of them with a label in the warehouse
GHOSTS = 15  # labels whose id no captured request carries


def _world(served: Served):
    """What Door reads of a test world: its root and its environments."""
    return types.SimpleNamespace(
        root=served.root, env=lambda name: load_repo(served.root).envs[name]
    )


def send(stack, served: Served, data: dict, tag: str) -> dict[str, float]:
    """POST each row through the front door (as its role) with X-Inference-Id TAG-i; the
    capture is flushed before it returns. inference id -> the prediction answered."""
    world = _world(served)
    requests = [
        (",".join(f"{data[f][i]:.6f}" for f in FEATURES), {"X_Inference_Id": f"{tag}-{i}"})
        for i in range(len(data["x1"]))
    ]
    answers = post_all(world, served.name, requests)
    return {a["inference_id"]: float(np.ravel(a["predictions"])[0]) for a in answers}


@pytest.fixture(scope="module")
def traffic(stack, served: Served) -> tuple[dict, dict]:
    """sandbox captures every request; CLEAN requests sent today; a label table for LABELED
    of them plus GHOSTS ids never sent. Returns (the rows sent, the answers)."""
    env_file = served.root / "environments" / "sandbox.yaml"
    env_file.write_text(env_file.read_text() + "capture: {sample: 1.0}\n")
    done = reconcile(load_repo(served.root), "sandbox", "apply", poll_seconds=0.1)
    assert not done.failed, done.summary()
    data = rows(CLEAN, seed=21)
    answered = send(stack, served, data, "clean")
    labels = served.table.replace("mon_", "lab_")
    rng = np.random.default_rng(5)
    truth = [(f"clean-{i}", float(data["y"][i])) for i in range(LABELED)]
    truth += [(f"ghost-{i}", 10.0) for i in range(GHOSTS)]
    shuffled = rng.permutation([y for _, y in truth])  # the same labels, no relation
    conn = psycopg2.connect(served.dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {labels} (request_id text, outcome double precision, "
            "shuffled double precision)"
        )
        cur.executemany(
            f"INSERT INTO {labels} VALUES (%s, %s, %s)",
            [(i, y, float(s)) for (i, y), s in zip(truth, shuffled, strict=True)],
        )
    conn.close()
    return data, answered


@contextlib.contextmanager
def configured(served: Served, source: str, labels_sql: str | None = None):
    """model.yaml's `monitor.source` (and a labels.sql) for the block, restored after it."""
    folder = served.root / "models" / served.name
    model_yaml = folder / "model.yaml"
    original = model_yaml.read_text()
    model_yaml.write_text(original + f"monitor:\n  source: {source}\n")
    if labels_sql is not None:
        (folder / "labels.sql").write_text(labels_sql)
    try:
        yield
    finally:
        model_yaml.write_text(original)
        (folder / "labels.sql").unlink(missing_ok=True)


def labels_sql(served: Served, column: str = "outcome") -> str:
    table = served.table.replace("mon_", "lab_")
    return (
        "-- ground truth by request\n"
        f"SELECT request_id AS inference_id,\n       {column} AS label\nFROM {table}\n"
    )


def captured_prefix(served: Served) -> str:
    env = load_repo(served.root).envs["sandbox"]
    return f"s3://{env.artifact_bucket}/capture/sandbox/{served.name}/v1/champion/"


def test_capture_is_judged_as_what_clients_sent_and_what_the_model_answered(served, traffic):
    with configured(served, "capture"):
        result = served.monitor(TODAY)
    assert result.source == "capture" and result.status == "ok", result.violations
    # Exactly the requests sent today: not the warehouse's rows of today.
    assert result.data.rows == CLEAN
    assert result.notes == (f"capture: {CLEAN} rows of answered requests under "
                            f"{captured_prefix(served)}",)  # fmt: skip
    # Input drift on every feature, and prediction drift on the answers against
    # predictions.json, in one Holm family.
    assert [f.name for f in result.data.features] == [*FEATURES, "prediction"]
    assert result.quality is None  # no labels.sql: no model quality claimed
    assert f"from the front door's capture: {CLEAN} rows dated" in report.headline(result)
    # Its CloudWatch series stand beside the warehouse's (listed as the stack's admin).
    t = load_repo(served.root).settings.training
    listed = EmbeddedStack.current.admin(t.account_id, t.region).call(
        "cloudwatch",
        "list_metrics",
        Namespace="mmeops",
        MetricName="WindowRows",
        Dimensions=[
            {"Name": "Model", "Value": served.name},
            {"Name": "Source", "Value": "capture"},
        ],
    )["Metrics"]
    assert len(listed) == 1


def test_labels_join_on_the_inference_id_and_unmatched_ids_are_counted(served, traffic):
    with configured(served, "capture", labels_sql(served)):
        result = served.monitor(TODAY)
    assert result.status == "ok", result.violations
    assert result.quality.labeled_rows == LABELED
    low, high = result.quality.intervals["rmse"]
    assert low < result.quality.metrics["rmse"] < high < 5  # the gate's bound
    assert result.notes[1] == (
        f"labels.sql returned {LABELED + GHOSTS} labels; {LABELED} captured rows matched; "
        f"{GHOSTS} ids matched no captured request; {CLEAN - LABELED} captured rows without "
        "a label"
    )
    # The mutation: the same labels on the wrong requests. The join is what made them fit.
    with configured(served, "capture", labels_sql(served, "shuffled")):
        wrong = served.monitor(TODAY)
    assert wrong.quality_violated and wrong.quality.labeled_rows == LABELED
    assert {v["metric_name"] for v in wrong.quality.violations} == {"rmse", "r2"}


def test_a_labels_sql_with_other_columns_is_exit_2_naming_the_file_and_the_fix(served, traffic):
    admin = EmbeddedStack.current.admin(load_repo(served.root).settings.training.account_id)
    bucket = load_repo(served.root).settings.bucket
    before = admin.get_bytes(bucket, history_key(served.name))[0]
    table = served.table.replace("mon_", "lab_")
    wrong = f"SELECT request_id, outcome\nFROM {table}\n"
    with configured(served, "capture", wrong):
        result = CliRunner().invoke(main, ["--repo", str(served.root), "monitor", "sandbox"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: models/{served.name}/labels.sql:1: returns (request_id, ")
    assert "SELECT request_id AS inference_id, outcome AS label" in line
    assert admin.get_bytes(bucket, history_key(served.name))[0] == before  # nothing written


def test_an_empty_capture_window_is_not_judged(served, traffic):
    later = TODAY + dt.timedelta(days=400)  # no request was captured on that day
    with configured(served, "capture"):
        result = served.monitor(later)
    assert result.status == "not judged" and result.data.rows == 0
    assert result.data.skipped == (
        "0 captured rows in the window, fewer than monitor.min_rows (30): not judged"
    )
    assert result.violations == []


def test_both_sources_are_judged_each_on_its_own_and_the_report_says_which(served, traffic):
    with configured(served, "both"):
        run = monitor(load_repo(served.root), "sandbox", [served.name], since=TODAY, today=TODAY)
    assert [(m.model, m.source) for m in run.models] == [
        (served.name, "warehouse"), (served.name, "capture")
    ]  # fmt: skip
    warehouse, captured = run.models
    assert captured.data.rows == CLEAN and warehouse.notes == ()
    text = report.markdown(run)
    assert text.count(f"{served.name} v1: ") == 2
    assert "from the warehouse query: " in text and "from the front door's capture: " in text
    page = html.page(run)
    assert f'id="model-{served.name}"' in page and f'id="model-{served.name}-capture"' in page
    # Each source's history row says which it was; its files sit apart within the run.
    admin = EmbeddedStack.current.admin(load_repo(served.root).settings.training.account_id)
    bucket = load_repo(served.root).settings.bucket
    history = [
        json.loads(x)
        for x in admin.get_bytes(bucket, history_key(served.name))[0].split(b"\n")
        if x
    ]
    last = [r for r in history if r["run_id"] == run.run_id]
    assert [r["source"] for r in last] == ["warehouse", "capture"]
    assert captured.violations_uri.endswith(f"/{run.run_id}/capture/constraint_violations.json")
    assert warehouse.violations_uri.endswith(f"/{run.run_id}/constraint_violations.json")


# --- IAM: monitor as the monitor role, capture through the environment's reader role ----------


def test_monitor_reads_capture_as_the_monitor_role_through_the_reader_role(
    stack, monkeypatch, served, traffic
):
    """As the monitor workflow runs: the monitor role (GitHub environment `monitor`), which
    assumes sandbox's reader role; the reader's ListCapture and ReadCapture (prefix
    capture/sandbox/ only, infra/bootstrap.yaml) are what let it read. The mutation: the
    reader without them; S3 refuses the listing and monitor fails saying so."""
    repo = load_repo(served.root)
    as_workflow(stack, monkeypatch, repo.settings.training.monitor_role_arn, "monitor")
    with configured(served, "capture"):
        result = served.monitor(TODAY)
    assert result.data.rows == CLEAN and result.status == "ok"

    env = repo.envs["sandbox"]
    account, name = env.account_id, "mmeops-reader"
    doc = _policy(stack, account, name, name)
    kept = [s for s in doc["Statement"] if s.get("Sid") not in ("ListCapture", "ReadCapture")]
    without = {**doc, "Statement": kept}
    assert len(without["Statement"]) == len(doc["Statement"]) - 2
    admin = EmbeddedStack.current.admin(repo.settings.training.account_id)
    before = admin.get_bytes(repo.settings.bucket, history_key(served.name))[0]
    _put_policy(stack, account, name, name, without)
    try:
        with middleware.expecting() as log, configured(served, "capture"):
            refused = CliRunner().invoke(main, ["--repo", str(served.root), "monitor", "sandbox"])
    finally:
        _put_policy(stack, account, name, name, doc)
    assert refused.exit_code == 1, refused.output
    assert "AccessDenied" in refused.output and "Traceback" not in refused.output
    assert [d.action for d in log.denied] == ["s3:ListBucket"]
    assert log.denied[0].principal.endswith(f":assumed-role/{name}/mmeops")
    # Refused while checking, before any model's files: no history row from this run.
    assert admin.get_bytes(repo.settings.bucket, history_key(served.name))[0] == before


# --- last: drifted traffic joins today's capture ----------------------------------------------


def test_drifted_requests_are_input_drift_and_prediction_drift(stack, served, traffic):
    data = rows(CLEAN, seed=22)
    data["x1"] = data["x1"] + 4  # two standard deviations; y leans on x1
    send(stack, served, data, "shifted")
    with configured(served, "capture"):
        result = served.monitor(TODAY)
    assert result.data.rows == 2 * CLEAN
    assert result.status == "violated" and result.drifted == ["x1", "prediction"]
    assert result.violations_uri.endswith("/capture/constraint_violations.json")
