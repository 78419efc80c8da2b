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
from mmeops.register.statistics import dataset_statistics

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"


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

    def model_metrics(self) -> dict:
        return {"Statistics": self.statistics.source(), "Constraints": self.constraints.source()}


def read_training_csv(path: str | Path) -> np.ndarray:
    import pandas as pd

    frame = pd.read_csv(path, header=None, dtype=np.float64, na_values=[""], keep_default_na=False)
    return frame.to_numpy()


def constraints(statistics: dict, target: str, settings: Monitor) -> dict:
    """constraints.json: what a later window must satisfy, suggested from the baseline."""
    features = []
    for f in statistics["features"]:
        if f["name"] == target:
            continue
        num = f["numerical_statistics"]
        present, missing = num["common"]["num_present"], num["common"]["num_missing"]
        features.append(
            {
                "name": f["name"],
                "inferred_type": f["inferred_type"],
                "completeness": present / (present + missing) if present + missing else 1.0,
                "num_constraints": {"is_non_negative": num["min"] is not None and num["min"] >= 0},
            }
        )
    return {
        "version": 0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Disabled",  # no CloudWatch metrics per model on an MME
            "datatype_check_threshold": 0.1,
            "domain_content_threshold": 0.1,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": settings.threshold,
                "comparison_method": settings.method.capitalize(),
            },
        },
    }


def build(train_csv: str | Path, schema: dict, settings: Monitor) -> tuple[dict, dict]:
    """(statistics.json, constraints.json) of one training split."""
    matrix = read_training_csv(train_csv)
    names = [schema["target"], *schema["features"]]
    stats = dataset_statistics(names, matrix)
    return stats, constraints(stats, schema["target"], settings)


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
) -> Baseline:
    """Build the baseline of the dataset under `dataset_prefix` and write it under `prefix`
    (the evaluation's folder). Called by register, for a version that passed its gate."""
    import tempfile

    schema = json.loads(aws.get_bytes(bucket, f"{dataset_prefix}/schema.json")[0])
    with tempfile.TemporaryDirectory(prefix="mmeops-baseline-") as tmp:
        train = Path(tmp) / "train.csv"
        aws.download_file(bucket, f"{dataset_prefix}/train.csv", str(train))
        stats, cons = build(train, schema, settings)
    return Baseline(
        _put(aws, bucket, f"{prefix}/{STATISTICS}", stats, kms),
        _put(aws, bucket, f"{prefix}/{CONSTRAINTS}", cons, kms),
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
