"""What a client outside mmeops needs to call each model of one environment: the endpoint,
the `TargetModel` and the feature order, read from the live routing manifest.

The manifest is the truth: it is what the endpoint serves now, not what a file pins. Entries
written since the manifest carried `feature_names` give them directly; for older entries the
names come from the dataset schema the registry package points at, when the caller can read
the training account, and are "unknown" otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mmeops import registry
from mmeops.aws import Aws, split_s3_uri
from mmeops.config.repo import Repo
from mmeops.deploy.desired import load_desired
from mmeops.deploy.reconcile import accounts
from mmeops.errors import MmeopsError, NotFound, UserError


@dataclass(frozen=True)
class Route:
    model: str
    version: int
    target_model: str
    feature_names: list[str] | None  # None: unknown
    source: str  # "manifest", "dataset schema" or "unknown"


@dataclass(frozen=True)
class Routes:
    env: str
    endpoint: str
    region: str
    routes: list[Route]


def _schema_features(registry_aws: Aws, model: str, version: int) -> list[str] | None:
    """The features of the dataset the version was trained on (schema.json), or None (also
    when the registry reader may not read the dataset: the manifest's features are then all
    there is)."""
    try:
        package = registry.describe(registry_aws, model, version)
        uri = (package or {}).get("CustomerMetadataProperties", {}).get("dataset_uri")
        if not uri:
            return None
        body, _ = registry_aws.get_bytes(*split_s3_uri(uri.rstrip("/") + "/schema.json"))
        features = json.loads(body).get("features")
    except (MmeopsError, ValueError):
        return None
    return [str(f) for f in features] if isinstance(features, list) else None


def routes(repo: Repo, env_name: str) -> Routes:
    desired = load_desired(repo, env_name)
    env_aws, registry_aws = accounts(repo, desired, read_only=True)  # a read: never the approver
    try:
        body, _ = env_aws.get_bytes(desired.bucket, desired.manifest_key)
    except NotFound:
        raise UserError(
            f"{env_name} has no routing manifest yet; run `mmeops reconcile {env_name} --apply`"
        ) from None
    entries = json.loads(body).get("models") or {}
    result = []
    for model, entry in sorted(entries.items()):
        names = entry.get("feature_names")
        source = "manifest"
        if not isinstance(names, list):
            names = _schema_features(registry_aws, model, int(entry["version"]))
            source = "dataset schema" if names is not None else "unknown"
        result.append(Route(model, int(entry["version"]), entry["target_model"], names, source))
    return Routes(env_name, desired.endpoint_name, desired.region, result)
