"""Identity, resource and trust policies combined, as AWS combines them (IAM User Guide,
reference_policies_evaluation-logic.html and _evaluation-logic-cross-account.html):

- an explicit Deny in any applicable policy wins;
- same account: the identity policy OR a resource policy naming the principal allows (a
  resource policy that names only the account delegates to the identity policy);
- another account's resource: the identity policy AND the resource policy must allow; a
  resource with no resource policy (a SageMaker endpoint) cannot be reached from outside;
- KMS: the key policy must allow, itself or by enabling IAM policies for its account's
  principals (`kms:*` to the account root: key-policy-default.html); the AWS-managed aws/s3
  key serves only its own account (UsingKMSEncryption.html);
- AssumeRole: the role's trust policy must allow the caller; the caller's identity policy must
  allow sts:AssumeRole unless the trust names the caller itself in the role's account;
  AssumeRoleWithWebIdentity: the trust alone, against the token's claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmeops.stack.iam import store
from mmeops.stack.iam.actions import Need
from mmeops.stack.iam.policy import Request, effects, statements
from mmeops.stack.iam.sessions import Session


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, in AWS's words (troubleshoot_access-denied.html)."""

    action: str
    resource: str
    reason: str  # "no identity-based policy allows the ACTION action", ...

    def message(self, session: Session) -> str:
        return (
            f"User: {session.caller.arn} is not authorized to perform: {self.action} "
            f"on resource: {self.resource} because {self.reason}"
        )


def base_context(session: Session, region: str) -> dict:
    """Global condition keys every request carries (reference_policies_condition-keys.html).
    aws:SecureTransport is "true": the stack is plain HTTP on loopback, clients reach AWS
    only over TLS."""
    caller = session.caller
    context = {
        "aws:PrincipalArn": caller.role_arn or caller.arn,
        "aws:PrincipalAccount": caller.account,
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": region,
        "aws:PrincipalType": "AssumedRole" if caller.role_arn else "User",
    }
    if not caller.role_arn:
        context["aws:username"] = caller.arn.rsplit("/", 1)[-1]
    return context


def _identity_documents(session: Session) -> list:
    role = store.role_of_arn(session.caller.role_arn or "")
    return store.identity_policies(role) if role is not None else []


def authorize(session: Session, needs: list[Need], region: str) -> Refusal | None:
    """None when every need is allowed, else the first refusal."""
    if session.kind == "admin":
        return None
    documents = _identity_documents(session)
    for need in needs:
        refusal = _one(session, documents, need, region)
        if refusal is not None:
            return refusal
    return None


def _resource_documents(need: Need) -> list | None:
    """The resource policy that decides too; None when the resource has none."""
    if need.policy == "bucket":
        bucket = need.resource.split(":::", 1)[-1].split("/", 1)[0]
        found = store.bucket(bucket)
        return [found[1].policy] if found is not None and found[1].policy else []
    if need.policy == "key":
        parts = need.resource.split(":")
        key = store.key(parts[4], parts[3], need.resource)
        return [key.policy] if key is not None else []
    if need.policy == "trust":
        role = store.role_of_arn(need.resource)
        return [role.assume_role_policy_document] if role is not None else []
    return None


def _one(session: Session, documents: list, need: Need, region: str) -> Refusal | None:
    action = need.action
    request = Request(
        action, need.resource, session.caller, {**base_context(session, region), **need.context}
    )
    identity = effects(documents, request)
    resource_docs = _resource_documents(need)
    resource = effects(resource_docs or [], request, resource_policy=True)
    if "Deny" in identity:
        return Refusal(action, need.resource, "with an explicit deny in an identity-based policy")
    if "Deny" in resource:
        return Refusal(action, need.resource, "with an explicit deny in a resource-based policy")
    no_identity = f"no identity-based policy allows the {action} action"
    no_resource = f"no resource-based policy allows the {action} action"
    same_account = need.owner == session.caller.account
    if need.policy == "key":
        return _key(session, need, identity, resource, no_identity, no_resource)
    if need.policy == "trust":
        if "Allow" in resource or ("AllowAccount" in resource and "Allow" in identity):
            if "Allow" in identity or (same_account and "Allow" in resource):
                return None
            return Refusal(action, need.resource, no_identity)
        return Refusal(action, need.resource, no_resource)
    if same_account:
        return (
            None
            if "Allow" in identity or "Allow" in resource
            else Refusal(action, need.resource, no_identity)
        )
    if "Allow" not in identity:
        return Refusal(action, need.resource, no_identity)
    if resource_docs is None or not ({"Allow", "AllowAccount"} & resource):
        return Refusal(action, need.resource, no_resource)
    return None


def _key(session, need, identity, resource, no_identity, no_resource) -> Refusal | None:
    if need.resource.endswith(":alias/aws/s3"):  # the AWS-managed key: its account only
        if need.owner == session.caller.account:
            return None
        return Refusal(need.action, need.resource, no_resource)
    if "Allow" in resource:
        return None
    if "AllowAccount" in resource and "Allow" in identity:
        return None
    if "AllowAccount" in resource:
        return Refusal(need.action, need.resource, no_identity)
    return Refusal(need.action, need.resource, no_resource)


def runner_may_assume(role_arn: str) -> bool:
    """The runner's first hop stands for configure-aws-credentials' OIDC exchange, whose token
    the stack does not see: it reaches any role a principal (not only a service) may assume;
    never a role only a service (sagemaker.amazonaws.com) is trusted to assume."""
    role = store.role_of_arn(role_arn)
    if role is None:
        return False
    return any(
        not (isinstance(s.get("Principal"), dict) and set(s["Principal"]) == {"Service"})
        for s in statements(role.assume_role_policy_document)
        if s.get("Effect") == "Allow"
    )
