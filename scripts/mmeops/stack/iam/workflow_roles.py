"""Which role each mmeops command runs under, from which GitHub environment: the role design
of infra/bootstrap.yaml (docs/iam/README.md prints it). tests/iam/test_command_roles.py checks it
against the workflow files; the demo and tests/iam/test_scenario_roles.py run each command
under it, starting from the environment's OIDC token (github_oidc.py).
"""

from __future__ import annotations

# command: (GitHub environment, the role it runs as, the roles it assumes from there).
# ENV stands for sandbox, qa and prod.
TABLE = {
    "extract": ("training", "mmeops-training", ()),
    # The scheduled run reads and writes the started records (schedule/ in the training bucket).
    "due": ("training", "mmeops-training", ()),
    "started": ("training", "mmeops-training", ()),
    "tune": ("training", "mmeops-training", ()),
    "register": ("training", "mmeops-training", ()),
    "reconcile --plan": ("ENV-readonly", "mmeops-reader", ("mmeops-registry-reader",)),
    "reconcile --check": ("ENV-readonly", "mmeops-reader", ("mmeops-registry-reader",)),
    "reconcile --apply": ("ENV", "mmeops-deployer", ("mmeops-registry-approver",)),
    "monitor": ("monitor", "mmeops-monitor", ("mmeops-reader",)),
    # No AWS role: promote edits a file (its registry check says "not checked" without
    # credentials) in the github-app environment, which holds the App key; the others read
    # the repository (review-kind: the pull request) only.
    "promote": ("github-app", None, ()),
    "validate": (None, None, ()),
    "affected": (None, None, ()),
    "undeployed": (None, None, ()),
    "review-kind": (None, None, ()),  # GitHub's API only, with a GitHub App token
}
ENVIRONMENTS = ("sandbox", "qa", "prod")


def job_of(command: str, env: str | None) -> tuple[str | None, str | None]:
    """(GitHub environment, role name) of `command`'s job for environment `env` ("ENV" in the
    table stands for it)."""
    environment, role, _ = TABLE[command]
    if environment and "ENV" in environment:
        environment = environment.replace("ENV", env or "")
    return environment, role


def role_arn(command: str, env: str | None, training: str, accounts: dict[str, str]) -> str | None:
    """The ARN of the role `command`'s job assumes: in the environment's account (`accounts`:
    environment → account id) where the table says ENV, else in the training account."""
    environment, role = job_of(command, env)
    if role is None:
        return None
    account = accounts[env] if "ENV" in (TABLE[command][0] or "") else training
    return f"arn:aws:iam::{account}:role/{role}"
