"""Invoke a model the way a client does: through the environment's routing manifest.

The manifest names the target model (`<model>/v<version>.tar.gz`), its version and its feature
columns; the call goes to the environment's endpoint through `sagemaker-runtime`, real or
embedded alike. The endpoint scores a row with too few columns without a word (the missing
ones become missing values) and the XGBoost container answers CSV on one line, so this client
checks the body first (deploy/body.py, shared with the front door) and reads the answer the way
the container writes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mmeops.aws import for_account
from mmeops.config.repo import Repo
from mmeops.deploy.body import Shape, validate
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


ACCEPT = {"csv": "text/csv", "json": "application/json"}


def invoke(
    repo: Repo,
    env_name: str,
    model: str,
    body: bytes,
    *,
    source: str | None = None,
    accept: str = "csv",
) -> Invocation:
    # Refused before any AWS call: size, encoding, numbers; the column count needs the manifest.
    validate(body, "text/csv", Shape(), source)
    desired = load_desired(repo, env_name)
    aws = for_account(desired.account_id, desired.region, desired.role_arn)
    manifest, _ = read_manifest(aws, desired.bucket, desired.manifest_key)
    entry = manifest.models.get(model) if manifest else None
    if entry is None:
        raise UserError(
            f"{model} is not routed in {env_name} (no entry in its manifest); pin it in "
            f"environments/{env_name}.yaml and run `mmeops reconcile {env_name} --apply`"
        )
    rows = validate(body, "text/csv", Shape(entry.feature_names, entry.feature_count), source)
    response = aws.call(
        "sagemaker-runtime",
        "invoke_endpoint",
        EndpointName=desired.endpoint_name,
        TargetModel=entry.target_model,
        ContentType="text/csv",
        Accept=ACCEPT[accept],
        Body=rows.csv,
    )
    text = response["Body"].read().decode("utf-8")
    predictions = parse_json(text) if accept == "json" else parse_csv(text)
    return Invocation(env_name, model, entry.version, entry.target_model, predictions)


def parse_csv(text: str) -> tuple[str, ...]:
    """The container's `text/csv` answer: all predictions comma-joined on ONE line; a row of
    several outputs (multi:softprob) written as a Python list, `[0.1, 0.9],[0.2, 0.8]`."""
    text = text.strip()
    if text.startswith("["):
        return tuple(",".join(v.strip() for v in row.split(",")) for row in _LISTS.findall(text))
    return tuple(p.strip() for p in text.split(",") if p.strip())


_LISTS = re.compile(r"\[([^\]]*)\]")


def parse_json(text: str) -> tuple[str, ...]:
    """The `application/json` answer: a JSON array, one number (or list) per row."""
    rows = json.loads(text)
    return tuple(",".join(map(str, r)) if isinstance(r, list) else str(r) for r in rows)
