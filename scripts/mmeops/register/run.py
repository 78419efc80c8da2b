"""Evaluate the best tuned model, judge it against the champion on the same new test set,
and register it in the Model Registry only if it earns it.

Order matters for safety: everything is computed and checked before the first write; a
failed gate writes only its evaluation record (and a notification), never a package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xgboost

from mmeops import artifact, jsonl, notify, registry
from mmeops.aws import Aws, for_account, split_s3_uri
from mmeops.config.kinds import ModelConfig
from mmeops.config.repo import Repo
from mmeops.errors import NotFound, UserError
from mmeops.gitinfo import current_commit
from mmeops.images import xgboost_image
from mmeops.register import baseline, evaluate, expected
from mmeops.register.gate import Verdict
from mmeops.register.registered import description, find_registered
from mmeops.register.verdict import decide
from mmeops.tune import history

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Champion:
    env: str
    version: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class Registration:
    model: str
    tuning_job: str
    problem: str
    metrics: dict[str, float]
    champion: Champion | None
    verdict: Verdict
    version: int | None
    package_arn: str | None
    evaluation_uri: str
    record: history.TuningRecord


def evaluation_history_key(model: str) -> str:
    return f"evaluations/{model}/history.jsonl"


def training_aws(repo: Repo) -> Aws:
    t = repo.settings.training
    return for_account(t.account_id, t.region, t.role_arn)


def find_tuning_record(aws: Aws, repo: Repo, model: str, job: str | None) -> history.TuningRecord:
    records = history.read(aws, repo.settings.bucket, model)
    if job is None:
        record = history.latest(aws, repo.settings.bucket, model)
        if record is None:
            raise UserError(f"model {model} has no completed tuning job; run `mmeops tune {model}`")
        return record
    for record in records:
        if record.job_name == job:
            if record.status not in history.USABLE or not record.artifact_uri:
                raise UserError(f"tuning job {job} is {record.status} and has no artifact")
            return record
    raise UserError(
        f"tuning job {job} not found in the history of {model}; `mmeops tune` prints the job names"
    )


def check_record_version(repo: Repo, model: str, record: history.TuningRecord) -> None:
    """Refuse an artifact whose training library differs from today's serving image."""
    image = repo.model(model).xgboost.image_version
    trained = record.xgboost_version or "unknown"
    if artifact.serving_version(image) != ".".join(trained.split(".")[:2]):
        source = repo.model_source(model)
        raise UserError(
            f"tuning job {record.job_name} was trained with xgboost {trained} but image "
            f"{image} serves xgboost {artifact.serving_version(image)}; it would predict wrong "
            "numbers without an error. Retrain with the matching xgboost-cpu",
            source.path,
            source.line("xgboost", "image_version"),
        )


def _download_booster(aws: Aws, uri: str) -> tuple[xgboost.Booster, bytes]:
    bucket, key = split_s3_uri(uri)
    data, _ = aws.get_bytes(bucket, key)
    return artifact.load_booster(data), data


def score_champion(aws: Aws, repo: Repo, cfg: ModelConfig, test_csv: Path) -> Champion | None:
    """The champion environment's pinned version, scored on the challenger's test set."""
    env_name = cfg.gate.champion_env or repo.settings.champion_env
    env = repo.envs.get(env_name)
    version = env.versions.get(cfg.name) if env else None
    if version is None:
        return None
    package = registry.describe(aws, cfg.name, version)
    if package is None:
        source = repo.env_source(env_name)
        raise UserError(
            f"champion {cfg.name} v{version} is not in the registry; fix the pin",
            source.path,
            source.line("models", cfg.name),
        )
    booster, _ = _download_booster(aws, registry.model_data_url(package))
    return Champion(env_name, version, evaluate.evaluate(cfg.problem, booster, test_csv))


def register(
    repo: Repo, model: str, tuning_job: str | None = None, *, notify_topic: bool = True
) -> Registration:
    cfg = repo.model(model)
    aws = training_aws(repo)
    bucket = repo.settings.bucket
    record = find_tuning_record(aws, repo, model, tuning_job)
    check_record_version(repo, model, record)
    dataset = f"datasets/{model}/{record.dataset_run_id}"
    eval_prefix = f"evaluations/{model}/{record.job_name}"
    with tempfile.TemporaryDirectory(prefix="mmeops-register-") as tmp:
        test_csv = Path(tmp) / "test.csv"
        try:
            aws.download_file(bucket, f"{dataset}/test.csv", str(test_csv))
        except NotFound:
            raise UserError(
                f"dataset {record.dataset_run_id} of {model} has no test.csv in "
                f"s3://{bucket}/{dataset}/; run `mmeops extract {model}`"
            ) from None
        booster, artifact_bytes = _download_booster(aws, record.artifact_uri)
        metrics = evaluate.evaluate(cfg.problem, booster, test_csv)
        champion = score_champion(aws, repo, cfg, test_csv)
        verdict = decide(
            cfg,
            record,
            booster,
            test_csv,
            metrics,
            champion.metrics if champion else None,
            champion.version if champion else None,
        )
        sample = _sample_csv(test_csv)

    evaluation = {
        "model": model,
        "problem": cfg.problem,
        "tuning_job": record.job_name,
        "dataset_run_id": record.dataset_run_id,
        "metrics": metrics,
        "champion": champion.__dict__ if champion else None,
        "gate": {
            "metric": cfg.gate.metric,
            "passed": verdict.passed,
            "checks": [c.__dict__ for c in verdict.checks],
            "refusals": list(verdict.refusals),
            "warnings": list(verdict.warnings),
        },
    }
    kms = repo.settings.kms_key_id
    aws.put_bytes(
        bucket,
        f"{eval_prefix}/evaluation.json",
        json.dumps(evaluation, indent=2).encode(),
        kms_key_id=kms,
        content_type="application/json",
    )
    evaluation_uri = f"s3://{bucket}/{eval_prefix}/evaluation.json"

    version = arn = None
    if verdict.passed:
        aws.put_bytes(
            bucket,
            f"{eval_prefix}/sample.csv",
            sample.encode(),
            kms_key_id=kms,
            content_type="text/csv",
        )
        expected.record(
            aws, bucket, dataset, f"s3://{bucket}/{eval_prefix}/sample.csv", booster, sample, kms
        )
        # A retry of the same tuning job returns the version the first attempt registered.
        found = find_registered(aws, model, record.job_name)
        arn, version = found or _create_package(
            repo,
            aws,
            cfg,
            record,
            metrics,
            verdict,
            evaluation_uri,
            f"s3://{bucket}/{eval_prefix}/sample.csv",
            artifact_bytes,
            baseline.store(aws, bucket, eval_prefix, dataset, cfg.monitor, kms, booster),
        )
    result = Registration(
        model,
        record.job_name,
        cfg.problem,
        metrics,
        champion,
        verdict,
        version,
        arn,
        evaluation_uri,
        record,
    )
    jsonl.append(
        aws, bucket, evaluation_history_key(model), json.dumps(_history_row(result)), kms_key_id=kms
    )
    if notify_topic and repo.settings.sns_topic_arn:
        notify.publish(
            aws,
            repo.settings.sns_topic_arn,
            "registered" if verdict.passed else "gate failed",
            _event(result),
        )
    return result


def _sample_csv(test_csv: Path) -> str:
    """A few feature rows (no label) the reconcile smoke test sends to the endpoint."""
    frame = pd.read_csv(test_csv, header=None, nrows=SAMPLE_ROWS, dtype=str, keep_default_na=False)
    # A missing value goes to the endpoint as an empty field, what the container scores as
    # missing; the body validator refuses `nan` text (deploy/body.py).
    return frame.iloc[:, 1:].replace("nan", "").to_csv(header=False, index=False)


def _create_package(
    repo: Repo,
    aws: Aws,
    cfg: ModelConfig,
    record: history.TuningRecord,
    metrics: dict,
    verdict: Verdict,
    evaluation_uri: str,
    sample_uri: str,
    artifact_bytes: bytes,
    data_quality: baseline.Baseline,
) -> tuple[str, int]:
    registry.ensure_group(aws, cfg.name, f"mmeops model {cfg.name} ({cfg.problem})")
    image = xgboost_image(aws.region, cfg.xgboost.image_version)
    metadata = {
        "git_commit": current_commit(repo.root),
        "dataset_uri": f"s3://{repo.settings.bucket}/datasets/{cfg.name}/{record.dataset_run_id}/",
        "dataset_sha256": record.dataset_sha256,
        "tuning_job": record.job_name,
        "warm_start_type": record.warm_start_type or "NONE",
        # Space-separated: CustomerMetadataValue allows letters, digits, spaces and _.:/=+-@,
        # not commas (botocore's service model).
        "parents": " ".join(record.parents) or "none",
        "xgboost_version": record.xgboost_version or "unknown",
        "image_version": cfg.xgboost.image_version,
        "gate_metric": cfg.gate.metric,
        "gate_value": f"{metrics[cfg.gate.metric]:.6g}",
        "artifact_sha256": hashlib.sha256(artifact_bytes).hexdigest(),
        "artifact_size": str(len(artifact_bytes)),
        "sample_uri": sample_uri,
        "problem": cfg.problem,
    }
    if data_quality.predictions:
        metadata["prediction_baseline_sha256"] = data_quality.predictions.sha256
    response = aws.call(
        "sagemaker",
        "create_model_package",
        ModelPackageGroupName=cfg.name,
        ModelPackageDescription=description(cfg.name, record.job_name),
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": record.artifact_uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="PendingManualApproval",
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}
            },
            "ModelDataQuality": data_quality.model_metrics(),
        },
        DriftCheckBaselines={"ModelDataQuality": data_quality.model_metrics()},
        CustomerMetadataProperties=metadata,
    )
    arn = response["ModelPackageArn"]
    return arn, int(arn.rsplit("/", 1)[1])


def _history_row(r: Registration) -> dict:
    row = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "testing": r.record.testing,
        "training_job": r.tuning_job,
        "objective": r.record.objective,
        "tuning_metric": r.record.eval_metric,
        "tuning_value": r.record.best_value,
        **r.metrics,
        "champion_env": r.champion.env if r.champion else None,
        "champion_version": r.champion.version if r.champion else None,
        "gate_metric": r.verdict.metric,
        "gate_passed": r.verdict.passed,
        "version": r.version,
    }
    if r.champion:
        row.update({f"champion_{k}": v for k, v in r.champion.metrics.items()})
    return row


def _event(r: Registration) -> dict:
    return {
        "model": r.model,
        "version": r.version,
        "package_arn": r.package_arn,
        "tuning_job": r.tuning_job,
        "metrics": r.metrics,
        "gate": r.verdict.summary(),
        "champion_version": r.champion.version if r.champion else None,
    }


def evaluation_history(repo: Repo, model: str) -> list[dict]:
    return jsonl.read(training_aws(repo), repo.settings.bucket, evaluation_history_key(model))
