"""`mmeops monitor` against real PostgreSQL and the embedded AWS: one model trained on its own
table, registered (with its baseline), served in sandbox; each scenario adds rows on its own
future day and monitors just that day, so scenarios never see each other's rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from click.testing import CliRunner

from helpers import fresh_accounts, png_rows, received, subscribed_queue
from mmeops import aws
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.deploy.reconcile import reconcile
from mmeops.extract.run import extract
from mmeops.monitor.history import history_key
from mmeops.monitor.run import monitor
from mmeops.register.run import register
from mmeops.stack.embedded import EmbeddedStack
from mmeops.tune.run import tune

REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("x1", "x2", "x3", "x4")
TODAY = dt.datetime.now(dt.timezone.utc).date()


def rows(n: int, seed: int, day: dt.date | None = None, span_days: int = 0) -> dict:
    """x1 ~ N(10, 2), x2 ~ N(50, 5), x3 ~ N(0, 1), x4 whole numbers 80..120; y linear + noise."""
    rng = np.random.default_rng(seed)
    data = {
        "x1": rng.normal(10, 2, n),
        "x2": rng.normal(50, 5, n),
        "x3": rng.normal(0, 1, n),
        "x4": rng.integers(80, 121, n).astype(float),
    }
    data["y"] = 3 * data["x1"] + 0.5 * data["x2"] - 2 * data["x3"] + rng.normal(0, 1, n)
    start = day or TODAY
    data["event_date"] = [
        start + dt.timedelta(days=int(d)) for d in rng.integers(0, span_days + 1, n)
    ]
    return data


def _sql(value):
    """A psycopg2 parameter: numpy numbers as Python floats, NaN as NULL."""
    if isinstance(value, dt.date):
        return value
    return None if np.isnan(value) else float(value)


def insert(dsn: str, table: str, data: dict) -> None:
    columns = ["event_date", *FEATURES, "y"]
    records = list(zip(*(data[c] for c in columns), strict=True))
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * 6)})",
            [tuple(_sql(v) for v in r) for r in records],
        )
    conn.close()


def create_table(dsn: str, table: str) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id serial PRIMARY KEY, event_date date NOT NULL, "
            + ", ".join(f"{c} double precision" for c in (*FEATURES, "y"))
            + ")"
        )
    conn.close()


def model_files(template: str, name: str, table: str) -> dict[str, str]:
    """model.yaml (diabetes-progression's, `template`, with a small tuning budget) and
    query.sql of a regression model on `table`."""
    yaml = template
    for old, new in (
        ("name: diabetes-progression", f"name: {name}"),
        ("target: progression", "target: y"),
        ("  max_jobs: 12", "  max_jobs: 2"),
        ("num_round: 300", "num_round: 60"),
        ("  bound: 80", "  bound: 5"),
    ):
        yaml = yaml.replace(old, new)
    query = (
        f"SELECT event_date, {', '.join(FEATURES)}, y\nFROM {table}\n"
        "WHERE event_date >= %(start_date)s AND event_date < %(end_date)s\nORDER BY id\n"
    )
    return {"model.yaml": yaml, "query.sql": query}


class Served:
    def __init__(self, root: Path, name: str, table: str, dsn: str):
        self.root, self.name, self.table, self.dsn = root, name, table, dsn
        self.day = 0

    def window(self, data: dict) -> dt.date:
        """Insert `data` on a day of its own and return that day."""
        self.day += 1
        day = TODAY + dt.timedelta(days=10 + self.day)
        data = {**data, "event_date": [day] * len(data["x1"])}
        insert(self.dsn, self.table, data)
        return day

    def monitor(self, day: dt.date, env: str = "sandbox"):
        run = monitor(load_repo(self.root), env, [self.name], since=day, today=day)
        assert len(run.models) == 1
        return run.models[0]


@pytest.fixture(scope="module")
def served(stack, tmp_path_factory) -> Served:
    """A regression model on its own table, v1 registered by `register` and served in
    sandbox (its own artifact prefix and endpoint name on the shared stack)."""
    root = tmp_path_factory.mktemp("monitor")
    shutil.copy2(REPO_ROOT / "mmeops.yaml", root / "mmeops.yaml")
    for folder in ("models", "environments"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    uid = uuid.uuid4().hex[:6]
    for path in (root / "environments").glob("*.yaml"):  # private prefix and endpoint names
        text = re.sub(r"(artifact_prefix: s3://[^/]+/)mme/", rf"\g<1>mon{uid}/", path.read_text())
        path.write_text(re.sub(r"(  name: mme-[a-z]+)", rf"\g<1>-{uid}", text))
    fresh_accounts(root, uid)  # its own accounts, bootstrapped for that prefix and endpoint
    name, table = f"mon-{uid}", f"public.mon_{uid}"
    create_table(stack.dsn, table)
    train = rows(
        1500, seed=1, day=dt.date(2025, 1, 1), span_days=(TODAY - dt.date(2025, 1, 3)).days
    )
    insert(stack.dsn, table, train)

    model = root / "models" / name
    model.mkdir()
    template = (root / "models" / "diabetes-progression" / "model.yaml").read_text()
    for file, text in model_files(template, name, table).items():
        (model / file).write_text(text)

    repo = load_repo(root)
    extract(repo, name)
    tune(repo, name)
    reg = register(repo, name)
    assert reg.version == 1, reg.verdict.summary()
    env = root / "environments" / "sandbox.yaml"
    env.write_text(env.read_text().replace("models: {}", f"models:\n  {name}: 1"))
    report = reconcile(load_repo(root), "sandbox", "apply", poll_seconds=0.1)
    assert not report.failed, report.summary()
    return Served(root, name, table, stack.dsn)


def kinds(result) -> dict[str, set[str]]:
    """feature or metric → the checks it violated."""
    found: dict[str, set[str]] = {}
    for v in result.violations:
        found.setdefault(v.get("feature_name") or v["metric_name"], set()).add(
            v["constraint_check_type"]
        )
    return found


def test_the_package_references_its_data_quality_baseline(served: Served):
    repo = load_repo(served.root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    arn = f"arn:aws:sagemaker:{t.region}:{t.account_id}:model-package/{served.name}/1"
    package = training.call("sagemaker", "describe_model_package", ModelPackageName=arn)
    quality = package["ModelMetrics"]["ModelDataQuality"]
    assert package["DriftCheckBaselines"]["ModelDataQuality"] == quality
    stats_uri = quality["Statistics"]["S3Uri"]
    # Beside the evaluation: evaluations/<model>/<job>/statistics.json
    assert re.match(
        rf"s3://{repo.settings.bucket}/evaluations/{served.name}/.+/statistics\.json$", stats_uri
    )
    stats = json.loads(training.get_bytes(*aws.split_s3_uri(stats_uri))[0])
    assert [f["name"] for f in stats["features"]] == ["y", *FEATURES]
    assert quality["Statistics"]["ContentDigest"].startswith("sha256:")
    predictions = stats_uri.rsplit("/", 1)[0] + "/predictions.json"
    body = training.get_bytes(*aws.split_s3_uri(predictions))[0]
    digest = package["CustomerMetadataProperties"]["prediction_baseline_sha256"]
    assert digest == hashlib.sha256(body).hexdigest()
    assert [f["name"] for f in json.loads(body)["features"]] == ["prediction"]


def test_no_drift_on_rows_from_the_training_distribution(served: Served):
    result = served.monitor(served.window(rows(400, seed=2)))
    assert result.status == "ok", result.violations
    assert result.data.rows == 400
    assert result.quality.labeled_rows == 400 and result.quality.violations == ()


def test_a_mean_shift_is_drift_on_that_feature_only(served: Served):
    data = rows(400, seed=3)
    data["x1"] = data["x1"] + 2  # one standard deviation
    data["y"] = np.full(400, np.nan)  # labels have not arrived
    result = served.monitor(served.window(data))
    assert result.status == "violated"
    # y leans on x1 (3 x1): the served version's predictions move with it (prediction
    # drift, against its predictions on the test split at registration).
    assert kinds(result) == {"x1": {"baseline_drift_check"}, "prediction": {"baseline_drift_check"}}
    assert result.drifted == ["x1", "prediction"]
    assert result.quality.labeled_rows == 0 and not result.quality_violated


def test_a_scale_change_is_drift(served: Served):
    data = rows(400, seed=4)
    data["x3"] = data["x3"] * 2
    data["y"] = np.full(400, np.nan)
    result = served.monitor(served.window(data))
    assert result.drifted == ["x3"]


def test_a_jump_in_missing_values_breaks_completeness(served: Served):
    data = rows(400, seed=5)
    data["x2"][:120] = np.nan  # 30% missing; training had none
    data["y"] = np.full(400, np.nan)
    result = served.monitor(served.window(data))
    assert kinds(result) == {"x2": {"completeness_check"}}


def test_values_beyond_the_baseline_range_are_a_violation(served: Served):
    """Ten sentinel values in 400 rows: far more than the chance that new rows beat the
    extreme of ~1,000 training rows allows (about (400/1400)^10)."""
    data = rows(400, seed=6)
    data["x4"][7:17] = 5000.0
    data["y"] = np.full(400, np.nan)
    result = served.monitor(served.window(data))
    assert kinds(result) == {"x4": {"range_check"}}


def test_one_value_beyond_the_range_is_not_an_alarm(served: Served):
    """One new row in 400 beats the training max with probability 400/(n + 400) by chance
    alone (heavy tails do it): not evidence of anything."""
    data = rows(400, seed=6)
    data["x4"][7] = 5000.0
    data["y"] = np.full(400, np.nan)
    result = served.monitor(served.window(data))
    assert result.status == "ok", result.violations


def test_an_empty_window_is_not_judged(served: Served):
    day = TODAY + dt.timedelta(days=200)
    result = served.monitor(day)
    assert result.status == "not judged" and result.data.rows == 0
    assert "not judged" in result.data.skipped


def test_labels_that_no_longer_follow_the_features_violate_model_quality(served: Served):
    data = rows(400, seed=7)
    data["y"] = np.random.default_rng(7).permutation(data["y"])  # same labels, no relation
    result = served.monitor(served.window(data))
    # Every bound of the gate is checked: the headline rmse and gate.also's r2; the labels'
    # own distribution has not moved, so there is no label drift.
    assert kinds(result) == {"rmse": {"GreaterThanThreshold"}, "r2": {"LessThanThreshold"}}
    low, _ = result.quality.intervals["rmse"]
    assert low > 5 and not result.data_violated
    assert result.quality.confidence == 0.95


def test_labels_that_move_are_label_drift(served: Served):
    data = rows(400, seed=8)
    data["y"] = data["y"] + 7  # about one standard deviation of y
    result = served.monitor(served.window(data))
    assert "y" in result.drifted


def test_a_quality_miss_within_sampling_noise_is_not_a_violation(served: Served):
    """30 labeled rows whose rmse lands just past the bound: the 95% interval still reaches
    below it, so no violation (and no retune)."""
    data = rows(30, seed=9)
    data["y"] = data["y"] + np.random.default_rng(9).normal(0, 5.2, 30)
    result = served.monitor(served.window(data))
    low, high = result.quality.intervals["rmse"]
    assert low < 5 < high
    assert not result.quality_violated


def test_nothing_is_monitored_for_a_model_the_environment_does_not_serve(served: Served):
    repo = load_repo(served.root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    before = training.get_bytes(repo.settings.bucket, history_key(served.name))[0]
    result = served.monitor(TODAY, env="qa")
    assert result.status == "skipped" and result.reason == "not served in qa"
    assert training.get_bytes(repo.settings.bucket, history_key(served.name))[0] == before


def test_the_cli_reports_writes_the_violations_file_and_exits_3(served: Served, tmp_path: Path):
    data = rows(400, seed=8)
    data["x1"] = data["x1"] + 3
    data["y"] = np.full(400, np.nan)
    served.monitor(TODAY)  # a run before this one, for the trend chart
    out = tmp_path / "github_output"
    report = tmp_path / "report.md"
    # The CLI refuses a future --since; this scenario's rows are dated today instead.
    insert(served.dsn, served.table, {**data, "event_date": [TODAY] * 400})
    result = CliRunner().invoke(
        main,
        [
            "--repo",
            str(served.root),
            "monitor",
            "sandbox",
            "--since",
            str(TODAY),
            "--report",
            str(report),
            "--issues",
            str(tmp_path / "issues"),
        ],
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert result.exit_code == 3, result.output
    # One issue body per drifted model, holding that model's report (monitor.yml posts it).
    (issue,) = (tmp_path / "issues").iterdir()
    assert issue.name == f"{served.name}.md"
    assert issue.read_text().startswith(f"## Monitoring sandbox: ❌ {served.name}")
    assert "| x1 |" in issue.read_text()
    assert f"{served.name} v1: violated" in result.output and "drift on x1" in result.output
    assert f'data_drift=["{served.name}"]' in out.read_text()
    markdown = report.read_text()
    assert markdown.startswith("## Monitoring sandbox: ❌")
    assert "| x1 |" in markdown and "xychart-beta" in markdown  # trend over past runs
    uri = re.search(r"`(s3://[^`]+constraint_violations\.json)`", markdown).group(1)
    repo = load_repo(served.root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    violations = json.loads(training.get_bytes(*aws.split_s3_uri(uri))[0])["violations"]
    assert {v["feature_name"] for v in violations} == {"x1", "prediction"}
    assert all(
        set(v) == {"feature_name", "constraint_check_type", "description"} for v in violations
    )


def test_a_broken_query_is_exit_2_and_nothing_is_written(served: Served):
    query = served.root / "models" / served.name / "query.sql"
    original = query.read_text()
    repo = load_repo(served.root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    before = training.get_bytes(repo.settings.bucket, history_key(served.name))[0]
    query.write_text(original.replace("FROM", "FORM"))
    try:
        result = CliRunner().invoke(main, ["--repo", str(served.root), "monitor", "sandbox"])
    finally:
        query.write_text(original)
    assert result.exit_code == 2, result.output
    assert f"models/{served.name}/query.sql:" in result.output and "Traceback" not in result.output
    assert training.get_bytes(repo.settings.bucket, history_key(served.name))[0] == before


def test_a_violation_is_published_when_a_topic_is_configured(served: Served):
    repo = load_repo(served.root)
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    topic, queue_url = subscribed_queue(training, served.name)
    settings = served.root / "mmeops.yaml"
    original = settings.read_text()
    settings.write_text(original + f"sns_topic_arn: {topic}\n")
    data = rows(400, seed=9)
    data["x2"] = data["x2"] * 3
    data["y"] = np.full(400, np.nan)
    try:
        result = served.monitor(served.window(data))
    finally:
        settings.write_text(original)
    assert result.drifted == ["x2", "prediction"]  # y leans on x2: predictions move too
    events = received(training, queue_url)
    assert [(e["event"], e["model"], e["drifted"]) for e in events] == [
        ("data drift", served.name, ["x2", "prediction"])
    ]
    assert events[0]["violations_uri"] == result.violations_uri


def _browser() -> str:
    found = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if not found:
        pytest.fail("no headless Chromium: run `make chromium` (scripts/ensure-chromium.sh)")
    return found


def _chromium(html: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a local file: no sandbox as root (CI), nothing fetched, a fresh
    profile; flags as Chromium's own headless docs give them."""
    command = [
        _browser(),
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),
        *args,
        html.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_the_html_report_renders_with_the_status_first(served: Served, tmp_path: Path):
    """`--html`: one self-contained page; rendered by headless Chromium its top is the
    violation colour and its DOM names every model asked about (served or skipped)."""
    data = rows(400, seed=12)
    data["x3"] = data["x3"] * 3
    data["y"] = np.full(400, np.nan)
    insert(served.dsn, served.table, {**data, "event_date": [TODAY] * 400})
    page = tmp_path / "monitor.html"
    args = ["--repo", str(served.root), "monitor", "sandbox", served.name, "breast-cancer"]
    result = CliRunner().invoke(main, [*args, "--since", str(TODAY), "--html", str(page)])
    assert result.exit_code == 3, result.output
    text = page.read_text()
    assert "<script" not in text and "http" not in text.replace("http://www.w3.org", "")

    started = time.monotonic()
    shot = tmp_path / "shot.png"
    _chromium(page, tmp_path / "p1", f"--screenshot={shot}", "--window-size=1000,700")
    dom = _chromium(page, tmp_path / "p2", "--dump-dom").stdout
    assert time.monotonic() - started < 20
    pixels = png_rows(shot, 120)
    top = pixels[30, 500, :3].astype(int)
    assert np.abs(top - (0xCF, 0x22, 0x2E)).max() < 8, top  # the violated banner colour
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[2])}) > 20  # not blank
    assert f'id="model-{served.name}"' in dom and 'id="model-breast-cancer"' in dom
    assert "x3" in dom and "<svg" in dom


def test_each_run_publishes_per_model_metrics_in_the_training_account(served: Served):
    """PutMetricData as the monitor role, namespace mmeops, the front door's dimensions;
    per feature only when model.yaml opts in (not here)."""

    result = served.monitor(served.window(rows(300, seed=13)))
    # Listed as the stack's admin: the monitor role may only put metrics.
    t = load_repo(served.root).settings.training
    listed = EmbeddedStack.current.admin(t.account_id, t.region).call(
        "cloudwatch",
        "list_metrics",
        Namespace="mmeops",
        Dimensions=[{"Name": "Model", "Value": served.name}],
    )["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {"DriftScore", "Violations", "WindowRows", "LabeledRows", "Quality.rmse"} <= names
    assert "FeatureDriftScore" not in names
    dims = {d["Name"]: d["Value"] for d in listed[0]["Dimensions"]}
    assert dims == {
        "Environment": "sandbox",
        "Model": served.name,
        "Version": str(result.version),
        "Variant": "champion",
    }


# --- issue 27: no internal error, no write before a refusal ----------------------------------


def _training(served: Served) -> tuple[aws.Aws, str]:
    repo = load_repo(served.root)
    t = repo.settings.training
    # The stack's admin: these tests inspect and tamper with what monitor reads.
    return EmbeddedStack.current.admin(t.account_id, t.region), repo.settings.bucket


def _history(training: aws.Aws, bucket: str, model: str) -> bytes:
    try:
        return training.get_bytes(bucket, history_key(model))[0]
    except aws.NotFound:
        return b""


def test_a_report_path_in_a_missing_folder_is_exit_2_before_any_write(
    served: Served, tmp_path: Path
):
    training, bucket = _training(served)
    report = tmp_path / "nonexistent" / "dir" / "r.md"
    before = _history(training, bucket, served.name)
    result = CliRunner().invoke(
        main,
        ["--repo", str(served.root), "monitor", "sandbox", "--report", str(report)],
    )
    assert result.exit_code == 2, result.output
    assert f"--report {report}" in result.output and not report.parent.exists()
    assert _history(training, bucket, served.name) == before  # no history row


def test_a_feature_the_query_no_longer_returns_is_a_violation_not_a_crash(served: Served):
    day = served.window(rows(400, seed=12))
    query = served.root / "models" / served.name / "query.sql"
    original = query.read_text()
    query.write_text(original.replace("x3, x4, y", "x3, y"))
    try:
        result = served.monitor(day)
    finally:
        query.write_text(original)
    assert result.status == "violated"
    assert kinds(result)["x4"] == {"missing_column_check"}
    assert "no longer returns x4" in result.quality.skipped


def test_a_baseline_missing_from_s3_is_one_line_naming_its_key(served: Served):
    training, bucket = _training(served)
    repo = load_repo(served.root)
    t = repo.settings.training
    arn = f"arn:aws:sagemaker:{t.region}:{t.account_id}:model-package/{served.name}/1"
    package = training.call("sagemaker", "describe_model_package", ModelPackageName=arn)
    uri = package["ModelMetrics"]["ModelDataQuality"]["Constraints"]["S3Uri"]
    body, _ = training.get_bytes(*aws.split_s3_uri(uri))
    bucket_name, key = aws.split_s3_uri(uri)
    training.call("s3", "delete_object", Bucket=bucket_name, Key=key)
    try:
        result = CliRunner().invoke(main, ["--repo", str(served.root), "monitor", "sandbox"])
    finally:
        training.put_bytes(*aws.split_s3_uri(uri), body)
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert uri in line and "is missing" in line and "unexpected" not in line


def test_a_window_without_rows_is_not_judged_rather_than_ok(served: Served):
    result = served.monitor(TODAY + dt.timedelta(days=900))  # no scenario inserts rows there
    assert result.status == "not judged", result
    assert result.data.rows == 0 and result.violations == []
