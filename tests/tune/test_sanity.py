"""The gate's advice on a one-class binary model (issue 27): it never says "tune on
validation:logloss" to a model tuned on it, and it says when the test split holds one class."""

from __future__ import annotations

import numpy as np

from mmeops.tune.sanity import degenerate

LOW = np.array([0.1, 0.2, 0.3, 0.4])  # class 0 for every row


def test_a_model_tuned_on_auc_is_told_to_tune_on_logloss():
    why = degenerate("binary", LOW, "validation:auc", np.array([0, 1, 0, 1]))
    assert why and "tune on validation:logloss or remove early_stopping_rounds" in why


def test_a_model_tuned_on_logloss_is_not_told_to_tune_on_it():
    why = degenerate("binary", LOW, "validation:logloss", np.array([0, 1, 0, 1]))
    assert why and "tune on validation:logloss" not in why
    assert "remove early_stopping_rounds" in why


def test_a_test_split_of_one_class_is_named():
    why = degenerate("binary", LOW, "validation:logloss", np.zeros(4))
    assert why and "the test split holds only class 0 (4 rows)" in why
    assert "tune on" not in why


def test_a_model_that_predicts_both_classes_passes():
    assert degenerate("binary", np.array([0.1, 0.9]), "validation:auc", np.array([0, 1])) is None
