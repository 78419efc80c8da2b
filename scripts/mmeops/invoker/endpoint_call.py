"""One InvokeEndpoint call for the front door, and the runtime's errors as its answers.

The runtime's error shapes are botocore's sagemaker-runtime service model: ModelError (424,
with the container's OriginalStatusCode and OriginalMessage), ModelNotReadyException (429: the
model is still loading, AWS docs "Invoke a multi-model endpoint": the load goes on up to 360 s),
ServiceUnavailable (503), InternalDependencyException (530), ValidationError (400; "Endpoint ...
not found" while an endpoint is being created or after it was deleted).
"""

from __future__ import annotations

import json

from mmeops.aws import Aws
from mmeops.errors import AwsError
from mmeops.invoker.reply import Refusal

# How long a client should wait before trying again (seconds): a model load takes seconds, an
# endpoint that is not there yet takes minutes to create.
RETRY_LOADING = 5
RETRY_THROTTLED = 1
RETRY_ENDPOINT = 30


def call(aws: Aws, endpoint: str, target_model: str, rows: bytes, inference_id: str) -> list:
    """The predictions, one per row (a number, or a list for multi-output models)."""
    try:
        response = aws.call(
            "sagemaker-runtime",
            "invoke_endpoint",
            EndpointName=endpoint,
            TargetModel=target_model,
            ContentType="text/csv",
            Accept="application/json",
            Body=rows,
            InferenceId=inference_id,
        )
    except AwsError as e:
        raise refusal(e, endpoint, target_model) from None
    text = response["Body"].read()
    try:
        predictions = json.loads(text)
    except ValueError:
        predictions = None
    if not isinstance(predictions, list):
        raise Refusal(502, "BadModelAnswer", f"{target_model} answered something not a JSON array")
    return predictions


def refusal(e: AwsError, endpoint: str, target_model: str) -> Refusal:
    if e.code == "ModelError":
        status = e.details.get("OriginalStatusCode")
        original = str(e.details.get("OriginalMessage") or "").strip().splitlines()
        said = f": {original[0][:200]}" if original else ""
        return Refusal(
            424,
            "ModelError",
            f"{target_model} failed in the model container (status {status}){said}",
            container_status=status,
        )
    if e.code == "ModelNotReadyException":
        return Refusal(
            429, "ModelNotReady", f"{target_model} is still loading; retry in a few seconds"
        ).retry_after(RETRY_LOADING)
    if e.code in ("ThrottlingException", "Throttling"):
        return Refusal(429, "Throttled", "the endpoint is throttling calls").retry_after(
            RETRY_THROTTLED
        )
    not_there = e.code == "ValidationError" and f"Endpoint {endpoint} " in e.message
    if not_there or e.code in ("ServiceUnavailable", "InternalDependencyException"):
        return Refusal(
            503, "EndpointNotReady", f"endpoint {endpoint} is not ready to serve ({e.code})"
        ).retry_after(RETRY_ENDPOINT)
    return Refusal(502, "EndpointError", f"the endpoint refused the call: {e.code}: {e.message}")
