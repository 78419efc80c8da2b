"""Remote state: read-only calls that describe what is live in one environment.

Reads the routing manifest (and its ETag), the objects under the artifact prefix, the endpoint
and its config, autoscaling when configured, and the registry entries of the versions that
need resolving. A no-op reconcile resolves none: only models whose pinned version differs from
the manifest (or whose artifact is missing) are looked up; `--check` looks up all of them and
also reads every live artifact's stored SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mmeops.aws import Aws, ObjectInfo
from mmeops.deploy.desired import VARIANT, Desired, Split
from mmeops.deploy.manifest import Manifest, Variant, read_manifest
from mmeops.errors import CorruptObject, NotFound
from mmeops.registry import package_arn
from mmeops.sample import Expected, read_expected

VERSION_KEY = re.compile(r"^(?P<model>[a-z][a-z0-9-]*)/v(?P<version>[0-9]+)\.tar\.gz$")


@dataclass(frozen=True)
class Package:
    """One model package version in the registry, as reconcile needs it."""

    model: str
    version: int
    arn: str
    status: str
    model_data_url: str
    sha256: str
    size: int
    sample_uri: str
    image_version: str
    metadata: dict[str, str] = field(default_factory=dict)
    # What registration stored for the sample (mmeops/sample.py); None for older packages.
    expected: Expected | None = None


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str
    config_name: str
    model_name: str
    instance_type: str
    instance_count: int
    # The image tag its model runs (`3.2-0`): what every artifact it loads must be trained for.
    image_version: str = ""
    # Where its model loads artifacts from ("" when unknown), and whether the model is gone:
    # either, changed out of band, means the endpoint does not serve this environment's prefix.
    model_data_url: str = ""
    model_missing: bool = False
    failure_reason: str = ""  # SageMaker's, when Failed (or after a rolled-back update)


@dataclass(frozen=True)
class ScalingState:
    min_capacity: int
    max_capacity: int
    target_invocations: int | None
    policies: tuple[str, ...] = ()  # every scaling policy on the variant, by name


@dataclass(frozen=True)
class Remote:
    manifest: Manifest | None = None
    manifest_etag: str | None = None
    # Keys relative to the artifact prefix (mmeops's own `_mmeops/` objects left out).
    objects: dict[str, ObjectInfo] = field(default_factory=dict)
    endpoint: EndpointState | None = None
    # (model, version) -> the package, or None when the registry has no such version.
    packages: dict[tuple[str, int], Package | None] = field(default_factory=dict)
    # Relative key -> stored SHA-256 (hex); filled by `--check` only.
    checksums: dict[str, str] = field(default_factory=dict)
    scaling: ScalingState | None = None
    # Whether the listing showed a lease object: a no-op apply then checks whether it is a
    # lease its own dead run left behind, and pays nothing when there is none.
    lease_seen: bool = False
    # Why the manifest object could not be read ("" when it could, or there is none): plan
    # and apply treat it as absent (apply rewrites it over its ETag), check reports it.
    manifest_problem: str = ""

    def versions(self, model: str) -> set[int]:
        """Versions of `model` with an artifact under the prefix."""
        out = set()
        for key in self.objects:
            m = VERSION_KEY.match(key)
            if m and m.group("model") == model:
                out.add(int(m.group("version")))
        return out


def _size(value: object) -> int:
    """The package's `artifact_size` metadata; 0 (which plan refuses, naming the field)
    when it is missing or not a whole number: metadata can be edited by anyone with access."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def describe_package(registry: Aws, desired: Desired, model: str, version: int) -> Package | None:
    arn = package_arn(desired.registry_region, desired.registry_account, model, version)
    try:
        p = registry.call("sagemaker", "describe_model_package", ModelPackageName=arn)
    except NotFound:
        return None
    meta = dict(p.get("CustomerMetadataProperties") or {})
    containers = (p.get("InferenceSpecification") or {}).get("Containers") or [{}]
    return Package(
        model=model,
        version=version,
        arn=p.get("ModelPackageArn", arn),
        status=p.get("ModelApprovalStatus", ""),
        model_data_url=containers[0].get("ModelDataUrl", ""),
        sha256=meta.get("artifact_sha256", ""),
        size=_size(meta.get("artifact_size")),
        sample_uri=meta.get("sample_uri", ""),
        image_version=meta.get("image_version", ""),
        metadata=meta,
        expected=read_expected(registry, meta["sample_uri"]) if meta.get("sample_uri") else None,
    )


def is_live(
    desired: Desired,
    manifest: Manifest | None,
    objects: dict,
    model: str,
    checksums: dict[str, str] | None = None,
) -> bool:
    """True when `model` already serves its pinned version: the manifest routes to it and its
    artifacts are under the prefix with the size (and, where read, the SHA-256) the manifest
    recorded. No registry call."""
    m = desired.model(model)
    entry = manifest.models.get(model) if manifest else None
    if m is None or entry is None or entry.version != m.version:
        return False
    if entry.target_model != desired.target_model(model, m.version) or not entry.intact:
        return False
    n = len(desired.key_prefix)
    keys = [desired.artifact_key(model, m.version)[n:]]
    if desired.naming == "stable":
        keys.append(desired.stable_key(model)[n:])
    if entry.etag and keys[0] in objects and objects[keys[0]].etag != entry.etag:
        return False  # the versioned artifact was written again since it was routed
    sums = checksums or {}
    return all(
        k in objects and objects[k].size == entry.size and sums.get(k, entry.sha256) == entry.sha256
        for k in keys
    )


def split_live(
    desired: Desired, manifest: Manifest | None, objects: dict, model: str, split: Split
) -> Variant | None:
    """The manifest's variant when it already serves `split` (same role and version, its
    versioned artifact under the prefix at the recorded size); None otherwise."""
    entry = manifest.models.get(model) if manifest else None
    variant = entry.variant(split.role) if entry else None
    if variant is None or variant.version != split.version:
        return None
    key = desired.artifact_key(model, split.version)[len(desired.key_prefix) :]
    return variant if key in objects and objects[key].size == variant.size else None


def needs_resolving(
    desired: Desired,
    manifest: Manifest | None,
    objects: dict,
    checksums: dict[str, str] | None = None,
) -> list:
    """(model, version) pairs whose registry entry the plan needs: those not already live."""
    out = [
        (m.name, m.version)
        for m in desired.models
        if not is_live(desired, manifest, objects, m.name, checksums)
    ]
    out += [
        (m.name, s.version)
        for m in desired.models
        for s in m.splits
        if split_live(desired, manifest, objects, m.name, s) is None
    ]
    return list(dict.fromkeys(out))


def model_name(endpoint: str) -> str:
    """The MultiModel model mmeops creates for an endpoint (a repair may name another)."""
    return f"{endpoint[:59]}-mme"


def config_digest(model: str, instance_type: str, count: int) -> str:
    """8 hex digits of what an endpoint config mmeops creates holds, the last part of its name
    (endpoint.py's `config_name`). Configs are immutable and an endpoint runs what its config
    held when deployed, so a name whose digest is the desired one's says the config's content."""
    return hashlib.sha256(f"{model}\n{instance_type}\n{count}".encode()).hexdigest()[:8]


def _expected_variant(desired: Desired, config_name: str) -> dict:
    """The variant the config holds when its name carries the digest of the model mmeops
    names and the file's instance type and count; {} otherwise (then it is described)."""
    model = model_name(desired.endpoint_name)
    digest = config_digest(model, desired.instance_type, desired.instance_count)
    if not config_name.endswith(f"-{digest}"):
        return {}
    return {
        "ModelName": model,
        "InstanceType": desired.instance_type,
        "InitialInstanceCount": desired.instance_count,
    }


def read_endpoint(aws: Aws, name: str, desired: Desired | None = None) -> EndpointState | None:
    """The endpoint, its config's variant (from the config's name when it says so: one call
    fewer; `desired` None describes it always) and its model."""
    try:
        ep = aws.call("sagemaker", "describe_endpoint", EndpointName=name)
    except NotFound:
        return None
    config_name = ep.get("EndpointConfigName", "")
    variant = _expected_variant(desired, config_name) if desired else {}
    try:
        if not variant:
            described = aws.call(
                "sagemaker", "describe_endpoint_config", EndpointConfigName=config_name
            )
            variant = described["ProductionVariants"][0]
    except NotFound:
        variant = {}
    return EndpointState(
        name=name,
        status=ep.get("EndpointStatus", ""),
        config_name=config_name,
        model_name=variant.get("ModelName", ""),
        instance_type=variant.get("InstanceType", ""),
        instance_count=int(variant.get("InitialInstanceCount") or 0),
        failure_reason=ep.get("FailureReason", ""),
        **read_model(aws, variant.get("ModelName", "")),
    )


def read_model(aws: Aws, model_name: str) -> dict:
    """The endpoint's model: the tag of the image it runs (`...sagemaker-xgboost:3.2-0` ->
    `3.2-0`; the live image, not the files, decides what an artifact must match), where it
    loads artifacts from, and whether it was deleted. Empty strings when unknown."""
    if not model_name:
        return {}
    try:
        model = aws.call("sagemaker", "describe_model", ModelName=model_name)
    except NotFound:
        return {"model_missing": True}
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    last = container.get("Image", "").rsplit("/", 1)[-1]
    return {
        "image_version": last.rsplit(":", 1)[1] if ":" in last else "",
        "model_data_url": container.get("ModelDataUrl", ""),
    }


def scaling_resource(desired: Desired) -> str:
    return f"endpoint/{desired.endpoint_name}/variant/{VARIANT}"


def read_scaling(aws: Aws, desired: Desired) -> ScalingState | None:
    resource = scaling_resource(desired)
    targets = aws.call(
        "application-autoscaling",
        "describe_scalable_targets",
        ServiceNamespace="sagemaker",
        ResourceIds=[resource],
    ).get("ScalableTargets", [])
    if not targets:
        return None
    policies = aws.call(
        "application-autoscaling",
        "describe_scaling_policies",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
    ).get("ScalingPolicies", [])
    target_value = None
    for p in policies:
        cfg = p.get("TargetTrackingScalingPolicyConfiguration") or {}
        if cfg.get("TargetValue") is not None:
            target_value = int(cfg["TargetValue"])
    names = tuple(sorted(p["PolicyName"] for p in policies))
    return ScalingState(targets[0]["MinCapacity"], targets[0]["MaxCapacity"], target_value, names)


def stored_sha256(aws: Aws, bucket: str, key: str) -> str | None:
    """An object's SHA-256 (hex): S3's stored checksum when it has one, else read and hash."""
    try:
        head = aws.call("s3", "head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except NotFound:
        return None
    stored = head.get("ChecksumSHA256")
    if stored and "-" not in stored:  # a multipart checksum is not the object's sha256
        return base64.b64decode(stored).hex()
    body, _ = aws.get_bytes(bucket, key)
    return hashlib.sha256(body).hexdigest()


def read_remote(
    env_aws: Aws,
    registry: Aws,
    desired: Desired,
    *,
    verify_all: bool = False,
    workers: int = 16,
) -> Remote:
    """Everything the planner needs, read-only. `verify_all` (`--check`) resolves every pinned
    version and reads every live artifact's checksum."""
    try:
        manifest, etag = read_manifest(env_aws, desired.bucket, desired.manifest_key)
        problem = ""
    except CorruptObject as e:
        manifest, etag, problem = None, e.etag, str(e)
    n = len(desired.key_prefix)
    listing = env_aws.list_objects(desired.bucket, desired.key_prefix)
    objects = {o.key[n:]: o for o in listing if not o.key[n:].startswith("_mmeops/")}
    lease_seen = any(o.key == desired.lease_key for o in listing)
    # `--check` describes the config whatever its name says.
    endpoint = read_endpoint(env_aws, desired.endpoint_name, None if verify_all else desired)
    # Read whether or not the file asks for autoscaling: one the file no longer has is removed.
    scaling = read_scaling(env_aws, desired) if endpoint else None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # `--check` reads the checksum of every artifact the desired state serves; apply those
        # of stable keys, the only ones ever overwritten (a crash can leave another version's
        # bytes there, of the same size). Retained versions are checked when used.
        keys = [
            k
            for m in desired.models
            for k in (
                desired.artifact_key(m.name, m.version)[n:] if verify_all else "",
                desired.stable_key(m.name)[n:] if desired.naming == "stable" else "",
            )
            if k in objects
        ]
        sums = pool.map(
            lambda k: stored_sha256(env_aws, desired.bucket, desired.key_prefix + k), keys
        )
        checksums = {k: s for k, s in zip(keys, sums, strict=True) if s is not None}
        wanted = (
            [(m.name, v) for m in desired.models for v, _ in m.versions()]
            if verify_all
            else needs_resolving(desired, manifest, objects, checksums)
        )
        found = pool.map(lambda mv: describe_package(registry, desired, *mv), wanted)
        packages = dict(zip(wanted, found, strict=True))
    return Remote(
        manifest, etag, objects, endpoint, packages, checksums, scaling, lease_seen, problem
    )
