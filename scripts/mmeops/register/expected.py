"""Registration's record of what the model answers for its smoke-test sample (mmeops/sample.py).

The feature names come from the dataset's schema.json (extract writes them in column order),
so the routing manifest can tell clients how many columns, and which, a model takes.
"""

from __future__ import annotations

import json

import numpy as np
import xgboost

from mmeops.aws import Aws, split_s3_uri
from mmeops.errors import NotFound
from mmeops.sample import Expected, expected_uri


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


def predict_sample(booster: xgboost.Booster, sample_csv: str) -> tuple[float, ...]:
    """The booster's predictions for CSV rows, read as the serving container reads CSV (float64
    rows into a DMatrix, empty fields missing) and flattened row by row."""
    rows = [line for line in sample_csv.strip().split("\n") if line]
    data = np.array([["nan" if v == "" else v for v in r.split(",")] for r in rows]).astype(float)
    pred = booster.predict(xgboost.DMatrix(data), validate_features=False)
    return tuple(float(p) for p in np.asarray(pred).ravel())


def write_expected(
    aws: Aws,
    sample_uri: str,
    booster: xgboost.Booster,
    sample_csv: str,
    feature_names: list[str],
    kms_key_id: str | None = None,
) -> str:
    """Store what the model answers for its sample; returns the object's URI."""
    predictions = predict_sample(booster, sample_csv)
    rows = tuple(line for line in sample_csv.strip().split("\n") if line)
    uri = expected_uri(sample_uri)
    bucket, key = split_s3_uri(uri)
    body = Expected(tuple(feature_names), predictions, len(rows), rows).to_json()
    aws.put_bytes(bucket, key, body, kms_key_id=kms_key_id, content_type="application/json")
    return uri
