"""The routing manifest: which target model serves each model in one environment.

Stored at `<prefix>_mmeops/manifest.json` and replaced only with a conditional put on the
ETag read before (docs/architecture.md). Clients invoke with `TargetModel = target_model`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace

from mmeops import jsonl
from mmeops.aws import Aws
from mmeops.errors import CorruptObject, NotFound


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
    # The versioned artifact's ETag when it was routed: a no-op apply compares it with the
    # listing's, so bytes replaced in place (same size) are found without a HEAD per artifact.
    # "" in manifests written before it was recorded.
    etag: str = ""
    # False when the entry's stored `digest` does not match its routing fields (edited outside
    # mmeops: a wrong sha256, say); plan then treats the model as not live and repairs it.
    intact: bool = field(default=True, compare=False)

    def digest(self) -> str:
        """sha256 over the fields that route and verify; written with the entry."""
        core = f"{self.target_model} {self.version} {self.package_arn} {self.sha256} "
        return hashlib.sha256(f"{core}{self.size} {self.etag}".encode()).hexdigest()

    def as_dict(self) -> dict:
        data = asdict(self)
        del data["intact"]
        return {**data, "digest": self.digest()}

    @classmethod
    def from_dict(cls, data: dict) -> ManifestEntry:
        known = {f.name for f in fields(cls)} - {"intact"}
        entry = {k: v for k, v in data.items() if k in known}
        entry["feature_names"] = tuple(entry.get("feature_names") or ())
        return cls(**entry)


@dataclass(frozen=True)
class Manifest:
    environment: str
    git_sha: str = ""
    updated: str = ""
    models: dict[str, ManifestEntry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["models"] = {k: v.as_dict() for k, v in sorted(self.models.items())}
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
                    int(v.get("feature_count") or 0), str(v.get("etag") or ""),
                )  # fmt: skip
                stored = v.get("digest")
                entries[name] = replace(entry, intact=stored is None or stored == entry.digest())
            except (KeyError, TypeError, ValueError):
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
