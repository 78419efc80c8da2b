"""Issue 27: the registry session a reconcile job assumes from its OIDC session is role
chaining, which AWS caps at one hour (IAM User Guide, "Role chaining"; STS AssumeRole,
DurationSeconds), whatever the role's MaxSessionDuration. `mmeops.aws` keeps one session per
account for the whole process, so a run that outlives the session must assume the role again
before STS's `Expiration`, not meet ExpiredToken.

The stack's session cap (`sessions.set_session_cap`, what MMEOPS_STACK_SESSION_SECONDS sets)
makes the chained session last seconds; the stack answers with that Expiration, as STS answers
with the one it granted (tests/stack/test_iam_rules.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from mmeops import aws
from mmeops.config.repo import load_repo
from mmeops.stack.iam import github_oidc, sessions
from mmeops.stack.moto_server import runner_aws

SESSION_SECONDS = 4.0


def test_a_chained_registry_session_is_assumed_again_before_it_expires(
    stack, repo_copy: Path, monkeypatch
) -> None:
    repo = load_repo(repo_copy)
    t, sandbox = repo.settings.training, repo.envs["sandbox"]
    # reconcile.yml's job after configure-aws-credentials: the deployer's web-identity session
    # (minted before the cap, so only the chained hop is short).
    creds = github_oidc.assume(
        runner_aws(stack.moto_url, sandbox.region), sandbox.role_arn, environment="sandbox"
    )
    for name, value in github_oidc.environment_variables(creds).items():
        monkeypatch.setenv(name, value)
    aws.reset_sessions()
    assumed: list[str] = []
    remove = aws.add_call_listener(
        lambda svc, op, params: assumed.append(op) if op == "AssumeRole" else None
    )
    sessions.set_session_cap(SESSION_SECONDS)
    try:
        registry = aws.for_account(t.account_id, sandbox.region, t.approver_role_arn)
        first = registry.call("sts", "get_caller_identity")["Arn"]
        time.sleep(SESSION_SECONDS + 1)  # the run outlives its first session
        again = registry.call("sts", "get_caller_identity")["Arn"]
    finally:
        sessions.set_session_cap(None)
        remove()
        aws.reset_sessions()
    role = t.approver_role_arn.rsplit("/", 1)[1]
    assert first == again == f"arn:aws:sts::{t.account_id}:assumed-role/{role}/mmeops"
    assert assumed == ["AssumeRole"] * 2  # assumed once more, not on every request
