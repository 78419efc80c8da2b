"""`monitor()`: every model an environment serves, checked against the served version.

For each model in the environment's routing manifest: the served version's package and its
baseline (registry, training account), the window after its training data (the model's own
query), data quality against the baseline, model quality on the labeled rows with the served
artifact, then the run's files and history row. Reads the manifest and the artifact from the
environment's account; writes only under `monitoring/` in the training bucket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from mmeops import artifact, notify, registry
from mmeops.aws import Aws, for_account, split_s3_uri
from mmeops.config.kinds import ModelConfig, metric_direction
from mmeops.config.repo import Repo
from mmeops.deploy.desired import load_desired
from mmeops.deploy.manifest import ManifestEntry, read_manifest
from mmeops.errors import MmeopsError, UserError
from mmeops.extract import warehouse
from mmeops.extract.run import Window, new_run_id
from mmeops.monitor import checks, history
from mmeops.monitor.window import Rows, monitoring_window, read_rows
from mmeops.register import baseline, evaluate
from mmeops.register.statistics import dataset_statistics


class Violated(MmeopsError):
    """A monitoring verdict: data drift or a model-quality violation (exit 3)."""

    exit_code = 3


OK, VIOLATED, SKIPPED = "ok", "violated", "skipped"


@dataclass(frozen=True)
class ModelRun:
    model: str
    status: str
    version: int | None = None
    window: Window | None = None
    data: checks.DataQuality | None = None
    quality: checks.ModelQuality | None = None
    reason: str = ""  # why it was skipped
    violations_uri: str = ""

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


def _model_quality(
    cfg: ModelConfig, rows: Rows, features: list[str], booster
) -> checks.ModelQuality:
    labels = rows.values(cfg.target)
    labeled = ~np.isnan(labels)
    n = int(labeled.sum())
    if n < cfg.monitor.min_rows:
        return checks.ModelQuality(
            n, skipped=f"{n} labeled rows, fewer than {cfg.monitor.min_rows}"
        )
    matrix = np.column_stack([rows.values(f) for f in features])[labeled]
    metrics = evaluate.score(cfg.problem, labels[labeled], evaluate.predict(booster, matrix))
    # Every metric the gate bounds (gate.also included), not only the headline one.
    bounds = [(b.metric, metric_direction(b.metric), b.bound) for b in cfg.gate.bounds]
    return checks.model_quality(bounds, metrics, n)


def _data_quality(cfg: ModelConfig, rows: Rows, stats: dict, cons: dict) -> checks.DataQuality:
    ignore = (cfg.target, *([cfg.split.time_column] if cfg.split.time_column else []))
    numeric = {c.name: rows.values(c.name) for c in rows.columns if c.numeric}
    result = checks.data_quality(stats, cons, rows.names, numeric, cfg.monitor, ignore)
    expected = {c["name"] for c in cons["features"]}
    typed = tuple(
        checks.type_violation(c.name, c.type_name)
        for c in rows.columns
        if not c.numeric and c.name in expected
    )
    if not typed:
        return result
    return checks.DataQuality(
        result.rows, result.features, typed + result.violations, result.skipped
    )


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


def monitor_model(ctx: Context, model: str, entry: ManifestEntry) -> tuple[ModelRun, dict]:
    """Check one served model; nothing is written here. Returns the result and the window's
    statistics (small: sketches, not rows), which `_record` stores."""
    cfg = ctx.repo.model(model)
    package = registry.describe(ctx.training, model, entry.version)
    if package is None:
        skipped = ModelRun(model, SKIPPED, entry.version, reason="served version not in registry")
        return skipped, {}
    documents = baseline.load(ctx.training, package)
    if documents is None:
        return ModelRun(model, SKIPPED, entry.version, reason="registered without a baseline"), {}
    stats, cons = documents
    trained_until, lineage = _trained_until(ctx.training, package)
    window = monitoring_window(trained_until, ctx.since, ctx.today)
    rows = read_rows(ctx.repo, ctx.dsn, model, window)
    data = _data_quality(cfg, rows, stats, cons)
    quality = None
    if cfg.target in rows.names:
        booster = _served_booster(ctx.env_aws, ctx.bucket, ctx.prefix, entry)
        quality = _model_quality(cfg, rows, lineage["features"], booster)
    status = VIOLATED if data.violations or (quality and quality.violations) else OK
    numeric = [c.name for c in rows.columns if c.numeric]
    window_stats = dataset_statistics(numeric, rows.frame[numeric].to_numpy(dtype=np.float64))
    return ModelRun(model, status, entry.version, window, data, quality), window_stats


def _record(ctx: Context, result: ModelRun, window_stats: dict) -> ModelRun:
    """Store the run's files and history row; returns the result with its violations' URI."""
    if result.status == SKIPPED:
        return result
    kms = ctx.repo.settings.kms_key_id
    bucket = ctx.repo.settings.bucket
    prefix = history.run_prefix(result.model, ctx.env, ctx.run_id)
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
        "violations_uri": uri,
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
            checked.append(monitor_model(ctx, model, served[model]))
    results = [_record(ctx, result, stats) for result, stats in checked]
    _notify(repo, training, env_name, results)
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
            "drifted": m.drifted,
            "violations_uri": m.violations_uri,
        }
        notify.publish(training, topic, event, detail)


def check_since(since: dt.date | None) -> None:
    if since and since > dt.datetime.now(dt.timezone.utc).date():
        raise UserError(f"--since {since} is in the future; give a day up to today")
