"""Every AWS call the test suite made is allowed by the policy of the role that made it.

Named to run last: conftest.py's `aws_calls` has recorded every call of the session by then,
with the account it landed in (111111111111: the training role; the environment accounts:
the deployer role; None: the runner's own identity, sts only). Calls made by test code and by
the embedded stack itself (its setup, its local endpoint) are not the product's and are left
out. Run alone, too few calls were made to say anything, so the check skips.
"""

from __future__ import annotations

import pytest

from mmeops.repo import load_repo
from test_iam import allows, iam_actions

MIN_CALLS = 300  # a full run makes thousands; a single module a handful
STACK_CALLERS = {f"mmeops/{m}.py" for m in ("stack", "stack_moto", "mme_server", "pgcluster")}


def _roles() -> dict[str | None, str]:
    from test_iam import ROOT

    repo = load_repo(ROOT)
    roles: dict[str | None, str] = {repo.settings.training.account_id: "training-role"}
    roles.update({env.account_id: "deployer-role" for env in repo.envs.values()})
    return roles


def test_every_call_the_suite_made_is_allowed_for_its_role(aws_calls):
    product = [c for c in aws_calls if c[3] not in STACK_CALLERS and c[3] != "tests"]
    if len(product) < MIN_CALLS:
        pytest.skip(f"only {len(product)} product AWS calls recorded: run the whole suite")
    roles = _roles()
    refused: set[str] = set()
    for account, service, operation, caller in product:
        if account is None:  # the runner's identity: it only finds and assumes roles
            if service != "sts":
                refused.add(f"{caller}: {service}:{operation} as the runner itself")
            continue
        role = roles.get(account)
        if role is None:  # an account of a test's own making
            continue
        for action in iam_actions(service, operation):
            if not allows(role, action):
                refused.add(f"{caller}: {action} in {account} not in docs/iam/{role}.json")
    assert sorted(refused) == []
    by_role = {r: sum(roles.get(c[0]) == r for c in product) for r in sorted(set(roles.values()))}
    print(f"{len(product)} product AWS calls checked against docs/iam: {by_role}")
