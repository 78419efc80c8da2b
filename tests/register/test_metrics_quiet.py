"""Issue 27: an undefined metric (r2 on one row, AUC on one class) is NaN in the evaluation,
which the gate explains; sklearn's UndefinedMetricWarning no longer leaks to stderr."""

from __future__ import annotations

import math
import warnings

import numpy as np

from mmeops.register.evaluate import score


def test_undefined_metrics_are_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        regression = score("regression", np.array([3.0]), np.array([2.0]))
        binary = score("binary", np.array([1.0, 1.0]), np.array([0.2, 0.7]))
    assert math.isnan(regression["r2"]) and regression["rmse"] == 1.0
    assert math.isnan(binary["auc"]) and binary["accuracy"] == 0.5
