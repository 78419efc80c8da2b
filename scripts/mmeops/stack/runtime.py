"""The SageMaker runtime's side of an invocation: its limits and its error answers.

Limits come from botocore's sagemaker-runtime service model (InvokeEndpointInput), which AWS
checks server-side and botocore mostly does not; error codes and HTTP statuses from the same
model's error shapes (ValidationError 400, ModelError 424 with OriginalStatusCode and
OriginalMessage, ModelNotReadyException 429).
"""

from __future__ import annotations

import re
from typing import Any

from mmeops.stack.container import ContainerError

# botocore's sagemaker-runtime service model (InvokeEndpointInput): what AWS checks server-side.
MAX_BODY_BYTES = 6 * 1024 * 1024  # Body max 6291456
MAX_TARGET_MODEL = 1024  # TargetModel 1-1024, pattern \A\S[\p{Print}]*\z
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")  # EndpointName, max 63
# The runtime waits this long for a model to load, then answers ModelNotReadyException while
# the load goes on (AWS docs, "Invoke a multi-model endpoint").
RUNTIME_WAIT_SECONDS = 60.0
# Endpoint states in which an endpoint serves: an update keeps the old fleet serving.
SERVING_STATES = {"InService", "Updating", "SystemUpdating", "RollingBack"}
# What an endpoint config without an instance type (serverless) is sized as.
FALLBACK_INSTANCE = "ml.m5.large"


class InvokeError(Exception):
    """An error the runtime API would answer: its code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.code, self.status, self.message, self.extra = code, status, message, extra


def validation(message: str) -> InvokeError:
    return InvokeError("ValidationError", 400, message)


def constraint(member: str, value: str, rule: str) -> InvokeError:
    """The wording AWS's request validation uses for a service-model constraint."""
    shown = f"Value '{value}' at" if value else "Value at"
    return validation(
        f"1 validation error detected: {shown} '{member}' failed to satisfy constraint: {rule}"
    )


def model_error(e: ContainerError, endpoint: str, account_id: str, region: str) -> InvokeError:
    """The runtime's 424 around the container's answer: its status and body as sent. The
    message's wording is the one users report from real endpoints, e.g. "Received server
    error (500) from model with message ..." (github.com/aws/amazon-sagemaker-examples#1247)."""
    kind = "client" if e.status < 500 else "server"
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    return InvokeError(
        "ModelError",
        424,
        f'Received {kind} error ({e.status}) from model with message "{e.body}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group={group} in account {account_id} for more information.",
        OriginalStatusCode=e.status,
        OriginalMessage=e.body,
        LogStreamArn=f"arn:aws:logs:{region}:{account_id}:log-group:{group}",
    )


def not_ready(target: str) -> InvokeError:
    return InvokeError(
        "ModelNotReadyException",
        429,
        f"Model {target} is still loading; wait and try your request again.",
    )


def check_request(endpoint: str, target_model: str | None, body: bytes) -> None:
    """What the runtime refuses before any endpoint is looked at (service model limits)."""
    if len(endpoint) > 63 or not _ENDPOINT_NAME.match(endpoint):
        raise constraint(
            "endpointName",
            endpoint,
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
        )
    if len(body) > MAX_BODY_BYTES:
        raise constraint(
            "body", "", f"Member must have length less than or equal to {MAX_BODY_BYTES}"
        )
    if not target_model:
        raise validation(
            "A target model is required when invoking a multi-model endpoint "
            "(header X-Amzn-SageMaker-Target-Model)."
        )
    if len(target_model) > MAX_TARGET_MODEL:
        raise constraint(
            "targetModel",
            target_model,
            f"Member must have length less than or equal to {MAX_TARGET_MODEL}",
        )
    if target_model[0].isspace() or not target_model.isprintable():
        raise constraint(
            "targetModel",
            target_model,
            "Member must satisfy regular expression pattern: \\A\\S[\\p{Print}]*\\z",
        )
    if ".." in target_model.split("/"):
        # multi-model-server refuses relative paths (ModelArchive.java:77).
        raise validation(f"Invalid target model '{target_model}'.")
