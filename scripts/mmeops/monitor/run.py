"""`monitor()`: every model an environment serves, checked against the served version.

For each model in the environment's routing manifest: the served version's package and its
baseline (registry, training account), the window after its training data, data quality
against the baseline, model quality on the labeled rows, then the run's files and history
row. The window's rows come from the model's `monitor.source`: the warehouse (its own query;
the served artifact predicts them), capture (what clients sent through the front door and
what the served version answered; labels from labels.sql), or both, one result each. Reads
the manifest, the artifact and capture from the environment's account (its reader role);
writes only under `monitoring/` in the training bucket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from mmeops import artifact, datacapture, notify, registry
from mmeops.aws import Aws, for_account, split_s3_uri
from mmeops.config.kinds import ModelConfig, metric_direction
from mmeops.config.repo import Repo
from mmeops.deploy.desired import load_desired
from mmeops.deploy.manifest import ManifestEntry, read_manifest
from mmeops.errors import MmeopsError, UserError
from mmeops.extract import warehouse
from mmeops.extract.run import Window, new_run_id
from mmeops.monitor import checks, history, metrics
from mmeops.monitor import labels as ml
from mmeops.monitor import quality as mq
from mmeops.monitor.captured import read_captured
from mmeops.monitor.window import Rows, monitoring_window, read_rows
from mmeops.register import baseline, evaluate
from mmeops.register.statistics import dataset_statistics


class Violated(MmeopsError):
    """A monitoring verdict: data drift or a model-quality violation (exit 3)."""

    exit_code = 3


OK, VIOLATED, SKIPPED = "ok", "violated", "skipped"
WAREHOUSE, CAPTURE = "warehouse", "capture"
# What the report calls each source's rows.
SOURCE_NAMES = {WAREHOUSE: "warehouse query", CAPTURE: "front door's capture"}
CHAMPION = "champion"  # the variant monitored: the version the manifest serves
# Too few rows (and labels) to judge anything: not "ok", which would claim a check passed.
NOT_JUDGED = "not judged"


@dataclass(frozen=True)
class ModelRun:
    model: str
    status: str
    version: int | None = None
    window: Window | None = None
    data: checks.DataQuality | None = None
    quality: mq.ModelQuality | None = None
    reason: str = ""  # why it was skipped
    violations_uri: str = ""
    # (baseline statistics.json, the window's statistics): what the HTML report draws
    distributions: tuple[dict, ...] = field(default=(), repr=False, compare=False)
    emit_metrics: bool = False  # the baseline's constraints.json monitoring_config says so
    source: str = WAREHOUSE  # where `data` and `quality` read their rows
    notes: tuple[str, ...] = ()  # what the source's reader counted (capture, labels.sql)

    @property
    def violations(self) -> list[dict]:
        found = list(self.data.violations) if self.data else []
        return found + (list(self.quality.violations) if self.quality else [])

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in (self.data.features if self.data else ()) if f.drift]

    @property
    def data_violated(self) -> bool:
        return bool(self.data and self.data.violations)

    @property
    def quality_violated(self) -> bool:
        return bool(self.quality and self.quality.violations)


@dataclass(frozen=True)
class MonitorRun:
    env: str
    run_id: str
    time: str
    models: list[ModelRun] = field(default_factory=list)
    history: dict[str, list[dict]] = field(default_factory=dict)  # model -> past rows

    @property
    def violated(self) -> bool:
        return any(m.status == VIOLATED for m in self.models)


def training_aws(repo: Repo) -> Aws:
    """The training account as the monitor role (training.monitor_role_arn; unset: the
    training role): on GitHub, the monitor environment's own credentials."""
    t = repo.settings.training
    return for_account(t.account_id, t.region, t.monitor_role_arn or t.role_arn)


def environment_aws(repo: Repo, env_name: str) -> Aws:
    """The environment's account through its reader role, which trusts the monitor role:
    monitoring reads the manifest and the served artifacts, and never deploys."""
    env = repo.env(env_name)
    return for_account(env.account_id, env.region, env.reader_role_arn or env.role_arn)


def _trained_until(aws: Aws, package: dict) -> tuple[dt.date, dict]:
    """The end of the served version's training window, and its dataset's lineage."""
    dataset = package["CustomerMetadataProperties"]["dataset_uri"]
    lineage = json.loads(aws.get_bytes(*split_s3_uri(dataset + "lineage.json"))[0])
    return dt.date.fromisoformat(lineage["window"]["end"]), lineage


def _served_booster(env_aws: Aws, bucket: str, prefix: str, entry: ManifestEntry):
    body, _ = env_aws.get_bytes(bucket, prefix + entry.target_model)
    if hashlib.sha256(body).hexdigest() != entry.sha256:
        raise MmeopsError(
            f"{entry.target_model} does not match the sha256 in the routing manifest; "
            "run `mmeops reconcile --check`"
        )
    return artifact.load_booster(body)


def _model_quality(cfg: ModelConfig, rows: Rows, features: list[str], booster) -> mq.ModelQuality:
    labels = rows.values(cfg.target)
    labeled = ~np.isnan(labels)
    n = int(labeled.sum())
    lost = [f for f in features if f not in rows.names]
    if lost:  # data quality reports each as missing_column_check; the model cannot score
        return mq.ModelQuality(
            n, skipped=f"the query no longer returns {', '.join(lost)}: the model cannot score"
        )
    if n < cfg.monitor.min_rows:
        return _too_few_labels(cfg, n)
    matrix = np.column_stack([rows.values(f) for f in features])[labeled]
    return _judged_quality(cfg, labels[labeled], evaluate.predict(booster, matrix))


def _too_few_labels(cfg: ModelConfig, n: int) -> mq.ModelQuality:
    return mq.ModelQuality(
        n, skipped=f"{n} labeled rows, fewer than {cfg.monitor.min_rows}: not judged"
    )


def _judged_quality(
    cfg: ModelConfig, labels: np.ndarray, predictions: np.ndarray
) -> mq.ModelQuality:
    """The gate's metrics of `predictions` against `labels`, each with its interval."""
    n = labels.size
    metrics = evaluate.score(cfg.problem, labels, predictions)
    confidence = cfg.monitor.quality_confidence
    # Every metric the gate bounds (gate.also included), not only the headline one.
    bounds = [(b.metric, metric_direction(b.metric), b.bound) for b in cfg.gate.bounds]
    intervals = {
        metric: mq.interval(cfg.problem, metric, labels, predictions, confidence)
        for metric, _, _ in bounds
    }
    return mq.model_quality(bounds, metrics, n, intervals, confidence)


def _outputs(cfg: ModelConfig, rows: Rows, stats: dict, predicted: tuple | None) -> list:
    """(baseline entry, window values) of the label (rows whose label arrived) and of the
    served version's predictions (every row): label drift and prediction drift."""
    found = []
    label = next((f for f in stats["features"] if f["name"] == cfg.target), None)
    if label is not None and cfg.target in rows.names:
        values = rows.values(cfg.target)
        found.append((label, values[~np.isnan(values)]))
    if predicted is not None:
        found.append(predicted)
    return found


def _data_quality(
    cfg: ModelConfig, rows: Rows, stats: dict, cons: dict, predicted: tuple | None
) -> checks.DataQuality:
    ignore = (cfg.target, *([cfg.split.time_column] if cfg.split.time_column else []))
    numeric = {c.name: rows.values(c.name) for c in rows.columns if c.numeric}
    outputs = _outputs(cfg, rows, stats, predicted)
    result = checks.data_quality(stats, cons, rows.names, numeric, cfg.monitor, ignore, outputs)
    expected = {c["name"] for c in cons["features"]}
    typed = tuple(
        checks.type_violation(c.name, c.type_name)
        for c in rows.columns
        if not c.numeric and c.name in expected
    )
    if not typed:
        return result
    return dataclasses.replace(result, violations=typed + result.violations)


def _predicted(package_predictions: dict | None, rows: Rows, features: list[str], booster):
    """The predictions' baseline entry and the served version's predictions on the window."""
    if package_predictions is None or booster is None or not len(rows.frame):
        return None
    if any(f not in rows.names for f in features):
        return None  # a lost feature is a missing_column_check already
    matrix = np.column_stack([rows.values(f) for f in features])
    return package_predictions["features"][0], evaluate.predict(booster, matrix)


@dataclass(frozen=True)
class Context:
    repo: Repo
    env: str
    run_id: str
    dsn: str
    training: Aws
    env_aws: Aws
    bucket: str  # the environment's artifact bucket
    prefix: str
    since: dt.date | None
    today: dt.date | None


@dataclass(frozen=True)
class Served:
    """What every source of one model is judged against: the served version's baseline."""

    cfg: ModelConfig
    entry: ManifestEntry
    window: Window
    stats: dict  # statistics.json
    cons: dict  # constraints.json
    features: list[str]  # the training data's features, in order
    predictions: dict | None  # predictions.json (prediction drift's baseline)

    @property
    def emit_metrics(self) -> bool:
        return self.cons.get("monitoring_config", {}).get("emit_metrics") == "Enabled"


def monitor_model(ctx: Context, model: str, entry: ManifestEntry) -> list[tuple[ModelRun, dict]]:
    """Check one served model, once per source; nothing is written here. Returns each result
    and its window's statistics (small: sketches, not rows), which `_record` stores."""
    cfg = ctx.repo.model(model)
    package = registry.describe(ctx.training, model, entry.version)
    if package is None:
        skipped = ModelRun(model, SKIPPED, entry.version, reason="served version not in registry")
        return [(skipped, {})]
    documents = baseline.load(ctx.training, package)
    if documents is None:
        reason = "registered without a baseline"
        return [(ModelRun(model, SKIPPED, entry.version, reason=reason), {})]
    stats, cons = documents
    trained_until, lineage = _trained_until(ctx.training, package)
    window = monitoring_window(trained_until, ctx.since, ctx.today, cfg.monitor.window_days)
    predictions = baseline.load_predictions(ctx.training, package)
    served = Served(cfg, entry, window, stats, cons, lineage["features"], predictions)
    found = []
    if cfg.monitor.source in (WAREHOUSE, "both"):
        found.append(_from_warehouse(ctx, model, served))
    if cfg.monitor.source in (CAPTURE, "both"):
        found.append(_from_capture(ctx, model, served))
    return found


def _from_warehouse(ctx: Context, model: str, s: Served) -> tuple[ModelRun, dict]:
    """The model's query over the window; the served artifact predicts its rows."""
    rows = read_rows(ctx.repo, ctx.dsn, model, s.window)
    booster = None
    if s.cfg.target in rows.names or s.predictions is not None:
        booster = _served_booster(ctx.env_aws, ctx.bucket, ctx.prefix, s.entry)
    predicted = _predicted(s.predictions, rows, s.features, booster)
    data = _data_quality(s.cfg, rows, s.stats, s.cons, predicted)
    quality = None
    if s.cfg.target in rows.names:
        quality = _model_quality(s.cfg, rows, s.features, booster)
    numeric = [c.name for c in rows.columns if c.numeric]
    window_stats = _statistics(s, numeric, rows.frame[numeric].to_numpy(dtype=np.float64))
    return _result(model, s, data, quality, window_stats, WAREHOUSE), window_stats


def _from_capture(ctx: Context, model: str, s: Served) -> tuple[ModelRun, dict]:
    """What clients sent the served version through the front door in the window (the
    champion's answered calls), and what it answered: input drift and prediction drift;
    with labels.sql, label drift and model quality on the rows whose label joined."""
    where = f"s3://{ctx.bucket}/" + datacapture.prefix(ctx.env, model, s.entry.version, CHAMPION)
    if not s.entry.feature_names:  # an old manifest: capture's columns have no names
        unnamed = "the routing manifest does not name the served version's features: run "
        data = checks.DataQuality(0, skipped=unnamed + "`mmeops reconcile --apply`; not judged")
        return _result(model, s, data, None, {}, CAPTURE), {}
    captured = read_captured(ctx.env_aws, ctx.bucket, ctx.env, model, s.entry, s.window)
    notes = [f"capture: {captured.rows} rows of answered requests under {where}"]
    if captured.skipped:
        notes[0] += f"; {captured.skipped} records did not parse and were skipped"
    columns = list(captured.features)
    values = {f: captured.matrix[:, i] for i, f in enumerate(columns)}
    outputs = []
    if s.predictions is not None and captured.rows:
        outputs.append((s.predictions["features"][0], captured.predictions))
    joined = None
    if ml.has_labels(ctx.repo, model):
        joined = ml.join(captured.inference_ids, ml.read(ctx.repo, ctx.dsn, model, s.window))
        notes.append(joined.summary())
        label = next((f for f in s.stats["features"] if f["name"] == s.cfg.target), None)
        if label is not None:
            outputs.append((label, joined.labels[~np.isnan(joined.labels)]))
    data = checks.data_quality(s.stats, s.cons, columns, values, s.cfg.monitor, (), outputs)
    if data.skipped:
        data = dataclasses.replace(
            data,
            skipped=f"{data.rows} captured rows in the window, fewer than monitor.min_rows "
            f"({s.cfg.monitor.min_rows}): not judged",
        )
    quality = None if joined is None else _joined_quality(s.cfg, joined, captured.predictions)
    window_stats = _statistics(s, columns, captured.matrix)
    result = _result(model, s, data, quality, window_stats, CAPTURE, tuple(notes))
    return result, window_stats


def _joined_quality(
    cfg: ModelConfig, joined: ml.Joined, predictions: np.ndarray
) -> mq.ModelQuality:
    """The answers the model gave, scored against the labels that joined them."""
    labeled = ~np.isnan(joined.labels)
    n = int(labeled.sum())
    if n < cfg.monitor.min_rows:
        return _too_few_labels(cfg, n)
    return _judged_quality(cfg, joined.labels[labeled], predictions[labeled])


def _statistics(s: Served, names: list[str], matrix: np.ndarray) -> dict:
    categorical = frozenset(f["name"] for f in s.stats["features"] if "string_statistics" in f)
    return dataset_statistics(names, matrix, categorical)


def _result(
    model: str,
    s: Served,
    data: checks.DataQuality,
    quality: mq.ModelQuality | None,
    window_stats: dict,
    source: str,
    notes: tuple[str, ...] = (),
) -> ModelRun:
    return ModelRun(
        model,
        _status(data, quality),
        s.entry.version,
        s.window,
        data,
        quality,
        distributions=(s.stats, window_stats),
        emit_metrics=s.emit_metrics,
        source=source,
        notes=notes,
    )


def _status(data: checks.DataQuality, quality: mq.ModelQuality | None) -> str:
    """Violated on any violation; "not judged" when too few rows (and labels) were there to
    judge anything (0 rows is not evidence of health); else ok."""
    if data.violations or (quality and quality.violations):
        return VIOLATED
    if data.skipped and (quality is None or quality.skipped):
        return NOT_JUDGED
    return OK


def _record(ctx: Context, result: ModelRun, window_stats: dict) -> ModelRun:
    """Store the run's files and history row; returns the result with its violations' URI."""
    if result.status == SKIPPED:
        return result
    kms = ctx.repo.settings.kms_key_id
    bucket = ctx.repo.settings.bucket
    prefix = history.run_prefix(result.model, ctx.env, ctx.run_id)
    if result.source != WAREHOUSE:  # beside the warehouse's files of the same run
        prefix += f"/{result.source}"
    uri = history.write_run(ctx.training, bucket, prefix, window_stats, result.violations, kms)
    assert result.data is not None and result.window is not None
    row = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_id": ctx.run_id,
        "env": ctx.env,
        "model": result.model,
        "version": result.version,
        "window": {"start": str(result.window.start), "end": str(result.window.end)},
        "rows": result.data.rows,
        "status": result.status,
        "drift_score": round(result.data.score, 4),
        "drifted": result.drifted,
        "violations": len(result.violations),
        "labeled_rows": result.quality.labeled_rows if result.quality else 0,
        "metrics": result.quality.metrics if result.quality else {},
        "intervals": result.quality.intervals if result.quality else {},
        "violations_uri": uri,
        "source": result.source,
    }
    history.append(ctx.training, bucket, result.model, row, kms)
    return dataclasses.replace(result, violations_uri=uri)


def _selected(repo: Repo, served: dict[str, ManifestEntry], models: list[str]) -> list[str]:
    for name in models:
        repo.model(name)  # an unknown model is bad input, exit 2
    return list(models) if models else sorted(served)


def monitor(
    repo: Repo,
    env_name: str,
    models: list[str] | None = None,
    *,
    since: dt.date | None = None,
    today: dt.date | None = None,
) -> MonitorRun:
    """Monitor `models` (default: every model the environment serves) in `env_name`."""
    desired = load_desired(repo, env_name)
    training = training_aws(repo)
    env_aws = environment_aws(repo, env_name)
    manifest, _ = read_manifest(env_aws, desired.bucket, desired.manifest_key)
    served = dict(manifest.models) if manifest else {}
    selected = _selected(repo, served, list(models or []))
    dsn = warehouse.resolve_dsn(repo.settings.warehouse, repo.sources["settings"], lambda: training)
    now = dt.datetime.now(dt.timezone.utc)
    ctx = Context(
        repo, env_name, new_run_id(now), dsn, training, env_aws,
        desired.bucket, desired.key_prefix, since, today,
    )  # fmt: skip
    # Every model is checked before anything is written: a bad query file (exit 2) leaves
    # no partial run behind.
    checked = []
    for model in selected:
        if model not in served:
            checked.append((ModelRun(model, SKIPPED, reason=f"not served in {env_name}"), {}))
        elif model not in repo.models:
            reason = "no models/ folder in this repository"
            checked.append((ModelRun(model, SKIPPED, reason=reason), {}))
        else:
            checked += monitor_model(ctx, model, served[model])
    results = [_record(ctx, result, stats) for result, stats in checked]
    _notify(repo, training, env_name, results)
    metrics.publish(
        training,
        env_name,
        [(m, repo.model(m.model).monitor.feature_metrics) for m in results if m.emit_metrics],
    )
    past = {
        m.model: history.read(training, repo.settings.bucket, m.model, env_name)
        for m in results
        if m.status != SKIPPED
    }
    return MonitorRun(env_name, ctx.run_id, now.isoformat(timespec="seconds"), results, past)


def _notify(repo: Repo, training: Aws, env: str, results: list[ModelRun]) -> None:
    """One SNS message per violated model, when mmeops.yaml names a topic."""
    topic = repo.settings.sns_topic_arn
    for m in results if topic else []:
        if m.status != VIOLATED:
            continue
        event = "model quality violated" if m.quality_violated else "data drift"
        detail = {
            "env": env,
            "model": m.model,
            "version": m.version,
            "source": m.source,
            "drifted": m.drifted,
            "violations_uri": m.violations_uri,
        }
        notify.publish(training, topic, event, detail)


def check_since(since: dt.date | None) -> None:
    if since and since > dt.datetime.now(dt.timezone.utc).date():
        raise UserError(f"--since {since} is in the future; give a day up to today")
