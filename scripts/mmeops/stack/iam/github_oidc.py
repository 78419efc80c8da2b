"""GitHub's OIDC token as a job receives it, minted for the embedded stack, and the exchange
configure-aws-credentials makes with it (AssumeRoleWithWebIdentity).

Claims as GitHub documents them ("About security hardening with OpenID Connect": `iss`
https://token.actions.githubusercontent.com, `aud` sts.amazonaws.com for AWS, `sub`
`repo:ORG/REPO:environment:NAME` for a job with an environment, else
`repo:ORG/REPO:ref:refs/heads/BRANCH`). The token is unsigned (`alg: none`): the stack checks
its claims, not GitHub's signature.
"""

from __future__ import annotations

import base64
import json
import time

from mmeops.stack.iam.template import GITHUB_ORG, GITHUB_REPO

ISSUER = "https://token.actions.githubusercontent.com"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(
    environment: str | None = None,
    ref: str = "refs/heads/main",
    repository: str = f"{GITHUB_ORG}/{GITHUB_REPO}",
    audience: str = "sts.amazonaws.com",
) -> dict:
    sub = (
        f"repo:{repository}:environment:{environment}"
        if environment
        else f"repo:{repository}:ref:{ref}"
    )
    now = int(time.time())
    out = {
        "iss": ISSUER,
        "aud": audience,
        "sub": sub,
        "repository": repository,
        "ref": ref,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    if environment:
        out["environment"] = environment
    return out


def token(**kwargs) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims(**kwargs))}."


def assume(aws, role_arn: str, session_name: str = "github-actions", **kwargs) -> dict:
    """configure-aws-credentials' exchange: the job's token for the role's credentials
    (`aws` any client session on the stack: the call is unsigned). Returns the Credentials."""
    return aws.call(
        "sts",
        "assume_role_with_web_identity",
        RoleArn=role_arn,
        RoleSessionName=session_name,
        WebIdentityToken=token(**kwargs),
    )["Credentials"]


def environment_variables(credentials: dict) -> dict[str, str]:
    """What configure-aws-credentials exports for the following steps."""
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
