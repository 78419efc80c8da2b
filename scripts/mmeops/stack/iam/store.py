"""What the authorizer reads from moto's own state (in this process): roles and their
policies, OIDC providers, bucket and key policies, which account owns a bucket or a key, an
object's KMS key, a secret's ARN. Policies live in moto, created from infra/bootstrap.yaml by
`world`, so the policies enforced are the ones the template ships."""

from __future__ import annotations

from typing import Any

from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends

PARTITION = "aws"


def role(account: str, name: str) -> Any | None:
    try:
        return iam_backends[account][PARTITION].get_role(name)
    except Exception:  # moto's IAMNotFoundException: the role does not exist
        return None


def role_of_arn(arn: str) -> Any | None:
    parts = arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None
    return role(parts[4], parts[5].rsplit("/", 1)[-1])


def identity_policies(role_obj: Any) -> list[Any]:
    """A role's inline policies and the default versions of its managed ones."""
    docs: list[Any] = list(role_obj.policies.values())
    for managed in role_obj.managed_policies.values():
        docs.append(managed.document if hasattr(managed, "document") else "{}")
    return docs


def oidc_provider(account: str, issuer_host: str) -> Any | None:
    arn = f"arn:aws:iam::{account}:oidc-provider/{issuer_host}"
    return iam_backends[account][PARTITION].open_id_providers.get(arn)


def bucket(name: str) -> tuple[str, Any] | None:
    """(owning account, moto bucket) for a bucket name, wherever it lives."""
    where = s3_backends.bucket_accounts.get(name)
    if where is None:
        return None
    _, account = where
    found = s3_backends[account][PARTITION].buckets.get(name)
    return (account, found) if found is not None else None


def object_kms_key(bucket_obj: Any, key: str) -> str | None:
    """The KMS key an existing object is encrypted with (None: not SSE-KMS, or absent)."""
    obj = bucket_obj.keys.get(key) if bucket_obj is not None else None
    if obj is None or getattr(obj, "encryption", None) != "aws:kms":
        return None
    return getattr(obj, "kms_key_id", None)


def bucket_kms_key(bucket_obj: Any) -> str | None:
    """The bucket's default SSE-KMS key, when its default encryption is aws:kms."""
    rule = (getattr(bucket_obj, "encryption", None) or {}).get("Rule") or {}
    default = rule.get("ApplyServerSideEncryptionByDefault") or {}
    if default.get("SSEAlgorithm") != "aws:kms":
        return None
    return default.get("KMSMasterKeyID")


def key(account: str, region: str, key_ref: str) -> Any | None:
    """A KMS key by id, ARN, alias or alias ARN, in `account` (or the ARN's own account)."""
    if key_ref.startswith("arn:"):
        parts = key_ref.split(":")
        account, region = parts[4], parts[3]
    backend = kms_backends[account][region]
    try:
        return backend.keys[backend.any_id_to_key_id(key_ref)]
    except Exception:  # an unknown key or alias
        return None


def secret_arn(account: str, region: str, secret_id: str) -> str:
    """A secret's ARN (with its random suffix) from a name or ARN; a name-shaped ARN when
    the secret does not exist (the service answers ResourceNotFound after authorizing)."""
    from moto.secretsmanager.models import secretsmanager_backends

    if secret_id.startswith("arn:"):
        return secret_id
    try:
        return secretsmanager_backends[account][region].secrets[secret_id].arn
    except Exception:
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"


def next_package_version(account: str, region: str, group: str) -> int:
    from moto.sagemaker.models import sagemaker_backends

    packages = sagemaker_backends[account][region].model_packages.values()
    return 1 + sum(getattr(p, "model_package_group_name", None) == group for p in packages)


def install() -> None:
    """Moto checks bucket policies itself on object writes, ignoring their Condition blocks:
    the template's TlsOnly Deny (aws:SecureTransport false) would refuse every write. The IAM
    middleware evaluates bucket policies with their conditions, so moto's check stands down."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL
