"""Registration's record of what the model answers for its smoke-test sample (mmeops/sample.py).

The feature names come from the dataset's schema.json (extract writes them in column order),
so the routing manifest can tell clients how many columns, and which, a model takes.
"""

from __future__ import annotations

import json

import xgboost

from mmeops.aws import Aws
from mmeops.errors import NotFound
from mmeops.sample import write_expected


def feature_names(aws: Aws, bucket: str, dataset_prefix: str) -> list[str]:
    """The dataset's feature columns, in the model's order; [] for a dataset without schema."""
    try:
        body, _ = aws.get_bytes(bucket, f"{dataset_prefix}/schema.json")
    except NotFound:
        return []
    return list(json.loads(body).get("features") or [])


def record(
    aws: Aws,
    bucket: str,
    dataset_prefix: str,
    sample_uri: str,
    booster: xgboost.Booster,
    sample_csv: str,
    kms_key_id: str | None = None,
) -> str:
    """Store the booster's predictions for the sample rows and the feature names."""
    names = feature_names(aws, bucket, dataset_prefix)
    return write_expected(aws, sample_uri, booster, sample_csv, names, kms_key_id)
