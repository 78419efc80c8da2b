"""Desired state: one environment file as frozen dataclasses, plus where each line is.

Nothing here reads AWS. The planner checks it against what is live; the line numbers let every
refusal point at the exact line of the environment file to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmeops.config.repo import Repo
from mmeops.gitinfo import current_commit

MANIFEST_KEY = "_mmeops/manifest.json"
LEASE_KEY = "_mmeops/lease.json"
VARIANT = "AllTraffic"


@dataclass(frozen=True)
class Split:
    """A version beside the champion: a canary (`share` = percent of requests) or a shadow
    (`share` = the fraction mirrored)."""

    role: str  # "canary" | "shadow"
    version: int
    share: float
    line: int | None = None


@dataclass(frozen=True)
class DesiredModel:
    name: str
    version: int
    line: int | None = None
    splits: tuple[Split, ...] = ()  # canary first, then shadow
    capture: float | None = None  # the share of requests captured (the model's or the env's)

    def versions(self) -> list[tuple[int, int | None]]:
        """Every version the environment serves for this model, (version, line), champion
        first: each is deployed, smoke-tested, kept by pruning and checked by validate."""
        return [(self.version, self.line), *((s.version, s.line) for s in self.splits)]


@dataclass(frozen=True)
class Scaling:
    min_capacity: int
    max_capacity: int
    target_invocations: int


@dataclass(frozen=True)
class Desired:
    env: str
    account_id: str
    region: str
    role_arn: str
    registry_account: str
    registry_region: str
    endpoint_name: str
    instance_type: str
    instance_count: int
    bucket: str
    key_prefix: str
    naming: str = "versioned"
    approve: bool = False
    retention: int = 3
    autoscaling: Scaling | None = None
    models: tuple[DesiredModel, ...] = ()
    promotion_from: str | None = None
    # The versions pinned in promotion_from's file: model -> version.
    upstream: dict[str, int] = field(default_factory=dict)
    source: str = ""
    git_sha: str = ""
    image_version: str = "3.2-0"
    execution_role_arn: str = ""
    prefix_line: int | None = None  # artifact_prefix's line in `source`, for messages

    # --- where things live (docs/architecture.md, "Per environment")
    def artifact_key(self, model: str, version: int) -> str:
        return f"{self.key_prefix}{model}/v{version}.tar.gz"

    def stable_key(self, model: str) -> str:
        return f"{self.key_prefix}{model}.tar.gz"

    def target_model(self, model: str, version: int) -> str:
        """What clients send as TargetModel: the key relative to the prefix."""
        if self.naming == "stable":
            return f"{model}.tar.gz"
        return f"{model}/v{version}.tar.gz"

    @property
    def manifest_key(self) -> str:
        return self.key_prefix + MANIFEST_KEY

    @property
    def lease_key(self) -> str:
        return self.key_prefix + LEASE_KEY

    @property
    def prefix_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key_prefix}"

    def model(self, name: str) -> DesiredModel | None:
        return next((m for m in self.models if m.name == name), None)


def _image_version(repo: Repo, models: list[str]) -> str:
    # One container serves every model of an MME: take the image the pinned models train for.
    versions = [repo.models[m].xgboost.image_version for m in models if m in repo.models]
    if not versions:
        versions = [m.xgboost.image_version for m in repo.models.values()] or ["3.2-0"]
    return max(set(versions), key=versions.count)


def execution_role(repo: Repo, account_id: str) -> str:
    """The role the endpoint's containers run as: the training execution role's name, in the
    environment's own account (a role is per account; mmeops.yaml names it once)."""
    name = repo.settings.training.execution_role_arn.split(":role/", 1)[1]
    partition = repo.settings.training.execution_role_arn.split(":")[1]
    return f"arn:{partition}:iam::{account_id}:role/{name}"


def _desired_model(env, name: str, source) -> DesiredModel:
    pin = env.pin(name)
    long_form = not isinstance(env.models[name], int)
    line = source.line("models", name, "version") if long_form else source.line("models", name)
    splits = []
    if pin.canary is not None:
        where = source.line("models", name, "canary")
        splits.append(Split("canary", pin.canary.version, pin.canary.weight, where))
    if pin.shadow is not None:
        where = source.line("models", name, "shadow")
        splits.append(Split("shadow", pin.shadow.version, pin.shadow.sample, where))
    capture = pin.capture or env.capture
    return DesiredModel(name, pin.version, line, tuple(splits), capture.sample if capture else None)


def load_desired(repo: Repo, env_name: str, sha: str | None = None) -> Desired:
    env = repo.env(env_name)
    source = repo.env_source(env_name)
    models = tuple(_desired_model(env, name, source) for name in env.models)
    upstream = dict(repo.envs[env.promotion_from].versions) if env.promotion_from else {}
    scaling = None
    if env.endpoint.autoscaling is not None:
        a = env.endpoint.autoscaling
        scaling = Scaling(a.min_capacity, a.max_capacity, a.target_invocations_per_instance)
    return Desired(
        env=env.name,
        account_id=env.account_id,
        region=env.region,
        role_arn=env.role_arn,
        registry_account=env.registry.account_id,
        registry_region=env.registry.region,
        endpoint_name=env.endpoint.name,
        instance_type=env.endpoint.instance_type,
        instance_count=env.endpoint.instance_count,
        bucket=env.artifact_bucket,
        key_prefix=env.artifact_key_prefix,
        naming=env.naming,
        approve=env.approve,
        retention=env.retention,
        autoscaling=scaling,
        models=models,
        promotion_from=env.promotion_from,
        upstream=upstream,
        source=str(source.path),
        git_sha=sha if sha is not None else current_commit(repo.root),
        image_version=_image_version(repo, list(env.models)),
        execution_role_arn=execution_role(repo, env.account_id),
        prefix_line=source.line("artifact_prefix"),
    )
