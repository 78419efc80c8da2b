"""Score a booster on a held-out split: the metrics a reviewer compares, from scikit-learn."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

REGRESSION = ("mae", "rmse", "stdev_error", "r2")
BINARY = ("auc", "f1", "precision", "recall", "accuracy", "logloss")


# Missing values as extract writes them (`nan`, extract.split.missing_as_nan) and as datasets
# extracted before it did (an empty field); any other text is an error, not a missing value.
MISSING = ["", "nan"]


def read_matrix(path: str | Path) -> np.ndarray:
    """Every column of a training-format CSV as float64, missing values NaN."""
    frame = pd.read_csv(
        path, header=None, dtype=np.float64, na_values=MISSING, keep_default_na=False
    )
    return frame.to_numpy()


def read_split(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A training-format CSV (label first, no header) → (labels, features)."""
    values = read_matrix(path)
    return values[:, 0], values[:, 1:]


def predict(booster: xgboost.Booster, features: np.ndarray) -> np.ndarray:
    """Predict as the SageMaker XGBoost container does for text/csv: NaN is missing."""
    return booster.predict(xgboost.DMatrix(features, missing=np.nan))


def score(problem: str, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    # An undefined metric (r2 of one row) is NaN, which the gate reports in its own words;
    # sklearn's UndefinedMetricWarning on stderr only confused (issue 27).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return _score(problem, labels, predictions)


def _score(problem: str, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    if problem == "regression":
        errors = predictions - labels
        result = {
            "mae": skm.mean_absolute_error(labels, predictions),
            "rmse": math.sqrt(skm.mean_squared_error(labels, predictions)),
            "stdev_error": float(np.std(errors)),
            "r2": skm.r2_score(labels, predictions),
        }
    else:
        decided = (predictions >= 0.5).astype(int)
        both_classes = len(np.unique(labels)) == 2
        result = {
            "auc": skm.roc_auc_score(labels, predictions) if both_classes else float("nan"),
            "f1": skm.f1_score(labels, decided, zero_division=0),
            "precision": skm.precision_score(labels, decided, zero_division=0),
            "recall": skm.recall_score(labels, decided, zero_division=0),
            "accuracy": skm.accuracy_score(labels, decided),
            "logloss": skm.log_loss(labels, np.clip(predictions, 1e-15, 1 - 1e-15), labels=[0, 1]),
        }
    return {name: round(float(value), 6) for name, value in result.items()}


def evaluate(problem: str, booster: xgboost.Booster, test_csv: str | Path) -> dict[str, float]:
    labels, features = read_split(test_csv)
    return score(problem, labels, predict(booster, features))
