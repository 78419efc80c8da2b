"""The data-quality baseline registered with each model version.

From the training split (label first, no header, as the container reads it) and the
dataset's schema.json: statistics.json for the label and every feature, constraints.json for
the features, both in Model Monitor's formats (AWS docs, "Schema for Statistics" and "Schema
for Constraints"), stored beside the evaluation and referenced from the model package as
`ModelMetrics.ModelDataQuality` and `DriftCheckBaselines.ModelDataQuality`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmeops.aws import Aws, split_s3_uri
from mmeops.config.kinds import Monitor
from mmeops.errors import MmeopsError, NotFound
from mmeops.register.statistics import common, dataset_statistics, is_categorical

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
# The registered booster's predictions on the test split (rows it never fit, so distributed
# as new rows' predictions are), in statistics.json's format
# (one feature, `prediction`): the baseline of prediction drift. Model Monitor has no place
# for it on a model package; its digest is in the package's CustomerMetadataProperties.
PREDICTIONS = "predictions.json"
PREDICTION = "prediction"


@dataclass(frozen=True)
class Stored:
    uri: str
    sha256: str

    def source(self) -> dict:
        """A `MetricsSource` (botocore's shape: ContentType, ContentDigest, S3Uri)."""
        return {
            "ContentType": "application/json",
            "ContentDigest": f"sha256:{self.sha256}",
            "S3Uri": self.uri,
        }


@dataclass(frozen=True)
class Baseline:
    statistics: Stored
    constraints: Stored
    predictions: Stored | None = None

    def model_metrics(self) -> dict:
        return {"Statistics": self.statistics.source(), "Constraints": self.constraints.source()}


def _feature_constraint(f: dict) -> dict:
    counts = common(f)
    present, missing = counts["num_present"], counts["num_missing"]
    entry = {
        "name": f["name"],
        "inferred_type": f["inferred_type"],
        "completeness": present / (present + missing) if present + missing else 1.0,
    }
    if "string_statistics" in f:
        buckets = f["string_statistics"]["distribution"]["categorical"]["buckets"]
        entry["string_constraints"] = {"domains": [b["value"] for b in buckets]}
    else:
        low = f["numerical_statistics"]["min"]
        entry["num_constraints"] = {"is_non_negative": low is not None and low >= 0}
    return entry


def constraints(statistics: dict, target: str, settings: Monitor) -> dict:
    """constraints.json: what a later window must satisfy, suggested from the baseline.
    `comparison_method` is Model Monitor's Simple or Robust, or Calibrated (ours: Holm over
    every test of the model, docs/monitoring.md); ChiSquared is the categorical test."""
    return {
        "version": 0,
        "features": [_feature_constraint(f) for f in statistics["features"] if f["name"] != target],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            # Per-model CloudWatch metrics from `mmeops monitor` (monitor/metrics.py).
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 0.1,
            "domain_content_threshold": 0.1,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": settings.threshold,
                "comparison_method": settings.method.capitalize(),
                "categorical_comparison_threshold": settings.threshold,
                "categorical_drift_method": "ChiSquared",
            },
        },
    }


def categorical_columns(names: list[str], matrix: np.ndarray, settings: Monitor) -> frozenset:
    """The features compared category by category: declared, or few whole-number values."""
    return frozenset(
        n
        for i, n in enumerate(names)
        if n in settings.categorical
        or is_categorical(matrix[:, i], settings.categorical_max_distinct)
    )


def build(train_csv: str | Path, schema: dict, settings: Monitor) -> tuple[dict, dict]:
    """(statistics.json, constraints.json) of one training split. The label is a column
    like the others (a binary label is categorical): label drift compares it."""
    from mmeops.register import evaluate

    return from_matrix(evaluate.read_matrix(train_csv), schema, settings)


def from_matrix(matrix: np.ndarray, schema: dict, settings: Monitor) -> tuple[dict, dict]:
    """`build` on rows already in memory (label first, then the features)."""
    names = [schema["target"], *schema["features"]]
    stats = dataset_statistics(names, matrix, categorical_columns(names, matrix, settings))
    return stats, constraints(stats, schema["target"], settings)


def prediction_statistics(test_csv: str | Path, booster) -> dict:
    """predictions.json: the booster's predictions on the test split's features."""
    from mmeops.register import evaluate

    _, features = evaluate.read_split(test_csv)
    predictions = evaluate.predict(booster, features)
    return dataset_statistics([PREDICTION], predictions.reshape(-1, 1).astype(np.float64))


def _put(aws: Aws, bucket: str, key: str, document: dict, kms: str | None) -> Stored:
    body = json.dumps(document, indent=1).encode()
    aws.put_bytes(bucket, key, body, kms_key_id=kms, content_type="application/json")
    return Stored(f"s3://{bucket}/{key}", hashlib.sha256(body).hexdigest())


def store(
    aws: Aws,
    bucket: str,
    prefix: str,
    dataset_prefix: str,
    settings: Monitor,
    kms: str | None = None,
    booster=None,
) -> Baseline:
    """Build the baseline of the dataset under `dataset_prefix` and write it under `prefix`
    (the evaluation's folder), with the predictions' baseline when `booster` is given.
    Called by register, for a version that passed its gate."""
    import tempfile

    schema = json.loads(aws.get_bytes(bucket, f"{dataset_prefix}/schema.json")[0])
    with tempfile.TemporaryDirectory(prefix="mmeops-baseline-") as tmp:
        train = Path(tmp) / "train.csv"
        aws.download_file(bucket, f"{dataset_prefix}/train.csv", str(train))
        stats, cons = build(train, schema, settings)
        predicted = None
        if booster is not None:
            test = Path(tmp) / "test.csv"
            aws.download_file(bucket, f"{dataset_prefix}/test.csv", str(test))
            predicted = prediction_statistics(test, booster)
    return Baseline(
        _put(aws, bucket, f"{prefix}/{STATISTICS}", stats, kms),
        _put(aws, bucket, f"{prefix}/{CONSTRAINTS}", cons, kms),
        _put(aws, bucket, f"{prefix}/{PREDICTIONS}", predicted, kms) if predicted else None,
    )


def load(aws: Aws, package: dict) -> tuple[dict, dict] | None:
    """The (statistics, constraints) a model package references, checked against their
    digests; None for a package registered before baselines existed."""
    quality = (package.get("ModelMetrics") or {}).get("ModelDataQuality")
    if not quality:
        return None
    documents = []
    for part in ("Statistics", "Constraints"):
        source = quality[part]
        uri = source["S3Uri"]
        fix = "register the model again to store its baseline"
        try:
            body, _ = aws.get_bytes(*split_s3_uri(uri))
        except NotFound:
            raise MmeopsError(f"{uri}, the package's {part.lower()}, is missing; {fix}") from None
        digest = source.get("ContentDigest", "")
        if digest and digest.split(":", 1)[1] != hashlib.sha256(body).hexdigest():
            raise MmeopsError(f"{uri} does not match its digest in the model package")
        try:
            documents.append(json.loads(body))
        except ValueError:
            raise MmeopsError(f"{uri} is not JSON; {fix}") from None
    return documents[0], documents[1]


def load_predictions(aws: Aws, package: dict) -> dict | None:
    """The predictions' baseline beside the package's statistics.json, checked against the
    digest in its metadata; None for a package registered without one."""
    digest = package.get("CustomerMetadataProperties", {}).get("prediction_baseline_sha256")
    if not digest:
        return None
    statistics_uri = package["ModelMetrics"]["ModelDataQuality"]["Statistics"]["S3Uri"]
    uri = statistics_uri.rsplit("/", 1)[0] + "/" + PREDICTIONS
    body, _ = aws.get_bytes(*split_s3_uri(uri))
    if hashlib.sha256(body).hexdigest() != digest:
        raise MmeopsError(f"{uri} does not match its digest in the model package")
    return json.loads(body)
