"""A service assuming a role, as AWS services do for the resources they run: Lambda assumes a
function's execution role (principal `lambda.amazonaws.com`, with `aws:SourceAccount` and
`aws:SourceArn` naming the function: IAM User Guide, "The confused deputy problem") and hands
the function that session. The embedded stack has no Lambda; the local front door (`mmeops
invoker ENV`, started by `mmeops stack up`) stands for the function, and gets its credentials
here, judged against the role's trust policy as STS would judge the service.

The session does not expire: Lambda renews its function's credentials before they do, which
the local process, running for as long as the stack, cannot ask for.
"""

from __future__ import annotations

from typing import Any, Self

from mmeops.stack.iam import sessions, store
from mmeops.stack.iam.policy import Caller, Request, effects
from mmeops.stack.iam.sessions import Session


class TrustRefused(Exception):
    """The role's trust policy does not let the service assume it."""


def _judge_trust(role_arn: str, service: str, source_arn: str) -> Any:
    """The role, if its trust lets `service` assume it for `source_arn`; else TrustRefused."""
    role = store.role_of_arn(role_arn)
    if role is None:
        raise TrustRefused(f"{role_arn} does not exist")
    account = source_arn.split(":")[4]
    context = {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
    principal = Caller(service, account, service=service)
    request = Request("sts:AssumeRole", role_arn, principal, context)
    found = effects([role.assume_role_policy_document], request, resource_policy=True)
    if "Allow" not in found or "Deny" in found:
        raise TrustRefused(f"the trust policy of {role_arn} does not let {service} assume it")
    return role


def held(role_arn: str, service: str, source_arn: str, session_name: str) -> Session:
    """The role's session as `service` holds it for `source_arn` (the trust judged), for work
    the stack does in-process as that service (a training job reading its channels), whose
    calls `middleware.authorize_in_process` judges; TrustRefused as `assume`."""
    role = _judge_trust(role_arn, service, source_arn)
    owner = role_arn.split(":")[4]
    arn = f"arn:aws:sts::{owner}:assumed-role/{role.name}/{session_name}"
    return Session("role", Caller(arn, owner, role_arn), None, False, {}, session_name)


def assume(
    admin: Any, role_arn: str, service: str, source_arn: str, session_name: str
) -> dict[str, str]:
    """The role's credentials (AccessKeyId, SecretAccessKey, SessionToken) as `service` gets
    them for the resource `source_arn`; TrustRefused when the trust does not allow it."""
    role = _judge_trust(role_arn, service, source_arn)
    # Minted by STS through the stack's admin, then recorded as the role's own session, which
    # the IAM middleware judges by the role's policies (an admin-minted one it would not).
    creds = admin.call("sts", "assume_role", RoleArn=role_arn, RoleSessionName=session_name)
    creds = creds["Credentials"]
    owner = role_arn.split(":")[4]
    arn = f"arn:aws:sts::{owner}:assumed-role/{role.name}/{session_name}"
    caller = Caller(arn, owner, role_arn)
    sessions.record(creds["AccessKeyId"], Session("role", caller, None, False, {}, session_name))
    return {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}


class AsService:
    """A role as a service holds it (`held`), working in S3 in-process: each call judged by
    the role's, the bucket's and the key's policies as the request would be (`refusal`).
    `get_bytes` (the local endpoint reads every model of every endpoint this way, with no
    STS call and no client) then serves the object from the embedded S3 itself, as
    `mmeops.aws.Aws`'s does: PermissionError when refused, NotFound when absent."""

    def __init__(self, session: Session, region: str):
        self.session, self.region = session, region

    @classmethod
    def of_sagemaker(cls, role_arn: str, source_arn: str, region: str) -> Self:
        """The role as SageMaker holds it for `source_arn` (a training job, a model), the
        trust judged as for `held`; TrustRefused, which each caller words as AWS does."""
        return cls(held(role_arn, "sagemaker.amazonaws.com", source_arn, "SageMaker"), region)

    def refusal(self, operation: str, params: dict, headers: dict | None = None) -> str | None:
        """Why the S3 `operation` would be refused to this session, or None if allowed."""
        from mmeops.stack.iam import middleware
        from mmeops.stack.iam.actions import Call

        account = self.session.caller.account
        call = Call("s3", operation, params, headers or {}, account, self.region)
        refused = middleware.authorize_in_process(self.session, call)
        return None if refused is None else refused.message(self.session)

    def get_bytes(self, bucket: str, key: str) -> tuple[bytes, dict]:
        from mmeops.errors import NotFound

        why = self.refusal("GetObject", {"Bucket": bucket, "Key": key})
        if why is not None:
            raise PermissionError(why)
        from moto.s3.models import FakeDeleteMarker

        found = store.bucket(bucket)
        obj = found[1].keys.get(key) if found is not None else None
        if obj is None or isinstance(obj, FakeDeleteMarker):
            raise NotFound("GetObject", "NoSuchKey", f"{key} is not in {bucket}")
        return obj.value, {}
