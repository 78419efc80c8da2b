"""The routing manifest: which target model serves each model in one environment.

Stored at `<prefix>_mmeops/manifest.json` and replaced only with a conditional put on the
ETag read before (docs/architecture.md). Clients invoke with `TargetModel = target_model`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from mmeops import jsonl
from mmeops.aws import Aws
from mmeops.errors import CorruptObject, NotFound


@dataclass(frozen=True)
class Variant:
    """A version served beside the champion: `canary` takes `share` percent of requests (the
    JSON's `weight`), `shadow` is sent a `share` of them (the JSON's `sample`)."""

    role: str
    version: int
    target_model: str
    package_arn: str
    sha256: str
    size: int
    share: float

    def to_dict(self) -> dict:
        share = "weight" if self.role == "canary" else "sample"
        return {
            "version": self.version,
            "target_model": self.target_model,
            "package_arn": self.package_arn,
            "sha256": self.sha256,
            "size": self.size,
            share: self.share,
        }

    @classmethod
    def from_dict(cls, role: str, v: dict) -> Variant:
        if role not in ROLES:
            raise ValueError(f"variant {role!r} is not one of {', '.join(ROLES)}")
        share = float(v["weight" if role == "canary" else "sample"])
        return cls(
            role, int(v["version"]), str(v["target_model"]), str(v["package_arn"]),
            str(v["sha256"]), int(v["size"]), share,
        )  # fmt: skip


ROLES = ("canary", "shadow")


@dataclass(frozen=True)
class ManifestEntry:
    target_model: str
    version: int
    package_arn: str
    sha256: str
    size: int
    # The model's feature columns in order, and how many: clients send exactly these. Absent
    # (empty, 0) in manifests written before they were recorded.
    feature_names: tuple[str, ...] = ()
    feature_count: int = 0
    # Versions beside the champion and the captured share: written only when the environment
    # file names them, so an entry without them stays byte for byte what it was.
    variants: tuple[Variant, ...] = ()
    capture: float | None = None
    # The versioned artifact's ETag when it was routed: a no-op apply compares it with the
    # listing's, so bytes replaced in place (same size) are found without a HEAD per artifact.
    # "" in manifests written before it was recorded.
    etag: str = ""
    # False when the entry's stored `digest` does not match its routing fields (edited outside
    # mmeops: a wrong sha256, say); plan then treats the model as not live and repairs it.
    intact: bool = field(default=True, compare=False)

    def digest(self) -> str:
        """sha256 over the fields that route and verify; written with the entry. Variants
        count only when there are any, so entries without them keep their digest."""
        core = f"{self.target_model} {self.version} {self.package_arn} {self.sha256} "
        extra = "".join(
            # float(): a share read back from JSON (50.0) digests as the one written (50)
            f" {v.role} {v.version} {v.target_model} {v.sha256} {float(v.share)!r}"
            for v in self.variants
        )
        return hashlib.sha256(f"{core}{self.size} {self.etag}{extra}".encode()).hexdigest()

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in ("variants", "capture", "intact"):
            data.pop(name)
        if self.variants:
            data["variants"] = {v.role: v.to_dict() for v in self.variants}
        if self.capture is not None:
            data["capture"] = {"sample": self.capture}
        return {**data, "digest": self.digest()}

    def variant(self, role: str) -> Variant | None:
        return next((v for v in self.variants if v.role == role), None)

    def targets(self) -> set[str]:
        """Every target model this entry routes to (a prune must keep them all)."""
        return {self.target_model, *(v.target_model for v in self.variants)}


@dataclass(frozen=True)
class Manifest:
    environment: str
    git_sha: str = ""
    updated: str = ""
    models: dict[str, ManifestEntry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["models"] = {k: v.to_dict() for k, v in sorted(self.models.items())}
        return json.dumps(data, indent=2, sort_keys=False).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Manifest:
        return cls.from_dict(json.loads(body))

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        """Fields a newer mmeops adds are ignored; a missing or mistyped one is a ValueError
        saying which."""
        models = data.get("models") or {}
        if not isinstance(data.get("environment"), str) or not isinstance(models, dict):
            raise ValueError("no environment name or no models mapping")
        entries = {}
        for name, v in models.items():
            try:
                entry = ManifestEntry(
                    str(v["target_model"]), int(v["version"]), str(v["package_arn"]),
                    str(v["sha256"]), int(v["size"]),
                    tuple(str(f) for f in v.get("feature_names") or ()),
                    int(v.get("feature_count") or 0),
                    tuple(Variant.from_dict(r, x) for r, x in (v.get("variants") or {}).items()),
                    float(v["capture"]["sample"]) if v.get("capture") is not None else None,
                    str(v.get("etag") or ""),
                )  # fmt: skip
                stored = v.get("digest")
                entries[name] = replace(entry, intact=stored is None or stored == entry.digest())
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ValueError(
                    f"model {name!r}'s entry lacks a field or has a wrong type"
                ) from None
        return cls(
            data["environment"], str(data.get("git_sha", "")), str(data.get("updated", "")), entries
        )


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_manifest(aws: Aws, bucket: str, key: str) -> tuple[Manifest | None, str | None]:
    """The live manifest and its ETag; (None, None) when there is none yet."""
    """A manifest that does not parse is a CorruptObject naming the key (with its ETag, so an
    apply, which holds the lease, can replace it); fields it does not know are ignored."""
    fix = "`mmeops reconcile ENV --apply` rewrites it"
    try:
        data, etag = jsonl.read_object(aws, bucket, key, "a routing manifest", fix)
    except NotFound:
        return None, None
    try:
        return Manifest.from_dict(data), etag
    except ValueError as e:
        raise CorruptObject(
            f"s3://{bucket}/{key} is not a routing manifest: {e}; {fix}", etag
        ) from None


def write_manifest(
    aws: Aws,
    bucket: str,
    key: str,
    manifest: Manifest,
    etag: str | None,
    kms_key_id: str | None = None,
) -> str:
    """Replace the manifest only if it is still the version read (ETag), or create it only if
    there was none; PreconditionFailed means another writer got there first. Returns the ETag."""
    return aws.put_bytes(
        bucket,
        key,
        manifest.to_json(),
        if_match=etag,
        if_none_match=etag is None,
        kms_key_id=kms_key_id,
        content_type="application/json",
    )
