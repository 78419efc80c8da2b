"""The gate's verdict on one challenger: every gated metric's bounds, plus the refusals and
warnings of sanity.py, from the same test set register.py scored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import xgboost

from mmeops.config.kinds import ModelConfig, metric_direction
from mmeops.register import evaluate
from mmeops.register.gate import Verdict, judge_all
from mmeops.tune import sanity

if TYPE_CHECKING:
    from mmeops.tune.history import TuningRecord


def decide(
    cfg: ModelConfig,
    record: TuningRecord,
    booster: xgboost.Booster,
    test_csv: Path,
    metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    champion_version: int | None,
) -> Verdict:
    labels, features = evaluate.read_split(test_csv)
    predictions = evaluate.predict(booster, features)
    refusal = sanity.degenerate(cfg.problem, predictions, record.eval_metric, labels)
    warning = sanity.saturated(record.eval_metric, [t["value"] for t in record.trials])
    bounds = cfg.gate.bounds
    return judge_all(
        bounds,
        {b.metric: metric_direction(b.metric) for b in bounds},
        metrics,
        champion_metrics,
        champion_version,
        refusals=(refusal,) if refusal else (),
        warnings=(warning,) if warning else (),
    )
