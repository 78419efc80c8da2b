"""Plans and checks read the registry through training.registry_role_arn, applies through
training.approver_role_arn (issue 16, item 13; issue 23), and `mmeops monitor` runs as
training.monitor_role_arn and reads each environment through its reader_role_arn: checked on
the embedded stack, by asking STS who each session is (moto answers with the assumed role, as
AWS does)."""

from __future__ import annotations

import re

from mmeops import aws
from mmeops.config.repo import load_repo
from mmeops.deploy.desired import load_desired
from mmeops.deploy.reconcile import accounts
from mmeops.monitor.run import environment_aws, training_aws


def _role_of(session: aws.Aws) -> str:
    arn = session.call("sts", "get_caller_identity")["Arn"]
    match = re.search(r":assumed-role/([^/]+)/", arn)
    assert match, arn
    return match[1]


def test_reads_assume_the_registry_reader_and_applies_the_approver_role(stack, repo_copy):
    repo = load_repo(repo_copy)
    t = repo.settings.training
    assert t.registry_role_arn and t.registry_role_arn != t.role_arn
    desired = load_desired(repo, "sandbox", "0" * 40)
    _, reader = accounts(repo, desired, read_only=True)
    _, writer = accounts(repo, desired, read_only=False)
    assert _role_of(reader) == t.registry_role_arn.rpartition("/")[2] == "mmeops-registry-reader"
    assert _role_of(writer) == t.approver_role_arn.rpartition("/")[2]
    assert _role_of(writer) == "mmeops-registry-approver"


def test_monitor_runs_as_the_monitor_role_and_reads_environments_as_their_readers(stack, repo_copy):
    repo = load_repo(repo_copy)
    assert _role_of(training_aws(repo)) == "mmeops-monitor"
    for env in ("sandbox", "qa", "prod"):
        session = environment_aws(repo, env)
        assert _role_of(session) == "mmeops-reader"
        assert session.call("sts", "get_caller_identity")["Account"] == repo.env(env).account_id


def test_without_a_registry_role_reads_use_the_training_role(stack, repo_copy):
    settings = repo_copy / "mmeops.yaml"
    settings.write_text(
        "".join(
            line
            for line in settings.read_text().splitlines(keepends=True)
            if "registry_role_arn:" not in line
        )
    )
    repo = load_repo(repo_copy)
    assert repo.settings.training.registry_role_arn is None
    _, reader = accounts(repo, load_desired(repo, "sandbox", "0" * 40), read_only=True)
    assert _role_of(reader) == "mmeops-training"
