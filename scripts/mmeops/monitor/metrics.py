"""CloudWatch metrics of a monitoring run (PutMetricData), in the training account as the
monitor role (its policy allows namespace mmeops only): every environment's series in one
place, told apart by the Environment dimension.

AWS publishes no per-model metrics for multi-model endpoints and Model Monitor does not
monitor them, so these are the per-model series an alarm or a dashboard can use. Namespace
`mmeops`; dimensions Environment, Model, Version, Variant (the front door's; the monitored
version is the one the manifest serves, Variant `champion`). Per model by default:
`DriftScore` (1 = at the limit), `Violations`, `WindowRows`, `LabeledRows` and one
`Quality.<metric>` per gate metric. Per feature (`FeatureDriftScore` with a Feature dimension)
only when model.yaml sets `monitor.feature_metrics: true`: custom metrics are billed each, and
200 models x 20 features x 3 would be 12,000 of them. A result read from capture adds a
`Source: capture` dimension: its series never mix with the warehouse's.

Sent only when the baseline's constraints.json says `emit_metrics: Enabled` (Model Monitor's
switch for the same thing), which registration writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mmeops.aws import Aws

ModelRun = Any  # monitor.run.ModelRun: run.py calls this module, which never imports it

NAMESPACE = "mmeops"
VARIANT = "champion"
BATCH = 1000  # PutMetricData: at most 1,000 metrics per request (AWS API reference)


def datums(env: str, m: ModelRun, per_feature: bool, now: dt.datetime) -> list[dict]:
    """The MetricData of one model's result."""
    dimensions = [
        {"Name": "Environment", "Value": env},
        {"Name": "Model", "Value": m.model},
        {"Name": "Version", "Value": str(m.version)},
        {"Name": "Variant", "Value": VARIANT},
    ]
    if m.source != "warehouse":  # capture's series beside the warehouse's, never mixed in
        dimensions.append({"Name": "Source", "Value": m.source})

    def datum(name: str, value: float, unit: str = "None", extra: tuple = ()) -> dict:
        return {
            "MetricName": name,
            "Dimensions": [*dimensions, *extra],
            "Timestamp": now,
            "Value": float(value),
            "Unit": unit,
        }

    found = [datum("Violations", len(m.violations), "Count")]
    if m.data:
        found += [datum("WindowRows", m.data.rows, "Count")]
        if not m.data.skipped:
            found.append(datum("DriftScore", m.data.score))
    if m.quality:
        found.append(datum("LabeledRows", m.quality.labeled_rows, "Count"))
        found += [datum(f"Quality.{k}", v) for k, v in m.quality.metrics.items() if v == v]
    if per_feature and m.data:
        found += [
            datum("FeatureDriftScore", f.score, extra=({"Name": "Feature", "Value": f.name},))
            for f in m.data.features
        ]
    return found


def publish(aws: Aws, env: str, results: list[tuple[ModelRun, bool]]) -> int:
    """Send the metrics of the models given ((result, per_feature) pairs); returns how many
    were sent."""
    now = dt.datetime.now(dt.timezone.utc)
    data = [d for m, per in results for d in datums(env, m, per, now)]
    for start in range(0, len(data), BATCH):
        aws.call(
            "cloudwatch",
            "put_metric_data",
            Namespace=NAMESPACE,
            MetricData=data[start : start + BATCH],
        )
    return len(data)
