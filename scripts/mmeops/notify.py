"""Notifications on SNS: one JSON message per event ("registered", "gate failed")."""

from __future__ import annotations

import json

from mmeops.aws import Aws


def publish(aws: Aws, topic_arn: str, event: str, detail: dict) -> None:
    message = json.dumps({"event": event, **detail}, sort_keys=True, default=str)
    aws.call(
        "sns",
        "publish",
        TopicArn=topic_arn,
        Subject=f"mmeops: {event}"[:100],
        Message=message,
        MessageAttributes={"event": {"DataType": "String", "StringValue": event}},
    )
