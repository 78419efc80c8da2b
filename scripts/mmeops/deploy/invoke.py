"""Invoke a model the way a client does: through the environment's routing manifest.

The manifest names the target model (`<model>/v<version>.tar.gz`) and version; the call goes
to the environment's endpoint through `sagemaker-runtime`, real or embedded alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmeops.aws import for_account
from mmeops.config.repo import Repo
from mmeops.deploy.desired import load_desired
from mmeops.deploy.manifest import read_manifest
from mmeops.errors import UserError


@dataclass(frozen=True)
class Invocation:
    env: str
    model: str
    version: int
    target_model: str
    predictions: tuple[str, ...]


def invoke(repo: Repo, env_name: str, model: str, body: bytes) -> Invocation:
    if not body.strip():
        raise UserError("the request body is empty; send CSV rows of features, no label")
    desired = load_desired(repo, env_name)
    aws = for_account(desired.account_id, desired.region, desired.role_arn)
    manifest, _ = read_manifest(aws, desired.bucket, desired.manifest_key)
    entry = manifest.models.get(model) if manifest else None
    if entry is None:
        raise UserError(
            f"{model} is not routed in {env_name} (no entry in its manifest); pin it in "
            f"environments/{env_name}.yaml and run `mmeops reconcile {env_name} --apply`"
        )
    response = aws.call(
        "sagemaker-runtime",
        "invoke_endpoint",
        EndpointName=desired.endpoint_name,
        TargetModel=entry.target_model,
        ContentType="text/csv",
        Accept="text/csv",
        Body=body,
    )
    text = response["Body"].read().decode("utf-8")
    predictions = tuple(p for p in text.replace(",", "\n").split() if p)
    return Invocation(env_name, model, entry.version, entry.target_model, predictions)
