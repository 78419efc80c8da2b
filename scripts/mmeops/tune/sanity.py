"""Models no gate bound should let through, and tuning runs that say nothing.

Pure: predictions and trial values in, one-line reasons out. A bound on AUC passed a binary
model that never predicted the positive class (its highest probability was 0.488); these
checks refuse such a model whatever the config says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD = 0.5  # where the XGBoost container's binary:logistic probability becomes a class
# The best value each container metric can reach: trials tied there cannot be told apart.
SATURATION = {
    "auc": 1.0,
    "aucpr": 1.0,
    "accuracy": 1.0,
    "f1": 1.0,
    "error": 0.0,
    "logloss": 0.0,
    "rmse": 0.0,
    "mae": 0.0,
    "mse": 0.0,
}


def degenerate(
    problem: str,
    predictions: np.ndarray,
    eval_metric: str = "",
    labels: np.ndarray | None = None,
) -> str | None:
    """Why the predictions on the test set make the model useless, or None. The advice
    follows what was tuned (`eval_metric`) and what the test split holds (`labels`)."""
    n = len(predictions)
    if n == 0:
        return None
    if problem == "binary":
        positive = int(np.sum(predictions >= THRESHOLD))
        if positive in (0, n):
            cls = 0 if positive == 0 else 1
            side, extreme = (
                ("highest", np.max(predictions)) if cls == 0 else ("lowest", np.min(predictions))
            )
            return (
                f"it predicts class {cls} for all {n} test rows at threshold {THRESHOLD} "
                f"({side} probability {float(extreme):.4g}); " + _binary_advice(eval_metric, labels)
            )
        return None
    if float(np.ptp(predictions)) == 0.0:
        return (
            f"it predicts the constant {float(predictions[0]):.6g} for all {n} test rows; "
            "check that the features vary and that num_round and eta allow it to learn"
        )
    return None


def _binary_advice(eval_metric: str, labels: np.ndarray | None) -> str:
    """What to do about a one-class model: never "tune on logloss" to a model tuned on it,
    and the data first when the test split itself holds one class."""
    if labels is not None and len(labels):
        classes = sorted({int(v) for v in labels})
        if len(classes) == 1:
            return (
                f"the test split holds only class {classes[0]} ({len(labels)} rows): the "
                "window or the split cannot judge a binary model; widen the window, or check "
                "the query's labels and, with split.time_column, that both classes are recent"
            )
    steps = ["remove early_stopping_rounds"]
    if eval_metric.split(":", 1)[-1] != "logloss":
        steps.insert(0, "tune on validation:logloss")
    return f"{' or '.join(steps)}, and check that both classes are in the data"


def saturated(eval_metric: str, trial_values: Sequence[float]) -> str | None:
    """A warning when every trial tied at the metric's best possible value: the tuner had
    nothing to choose between, and the validation set was separable."""
    name = eval_metric.split(":", 1)[-1]
    best = SATURATION.get(name)
    values = [float(v) for v in trial_values]
    if best is None or len(values) < 2 or any(abs(v - best) > 1e-12 for v in values):
        return None
    return (
        f"all {len(values)} trials tie at {eval_metric} = {best:g}: the validation set is "
        "separable and tuning could not tell them apart; add rows or tune on a proper "
        "scoring rule (validation:logloss, validation:rmse)"
    )
