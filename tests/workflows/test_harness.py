"""The harness's own parts, without act: the fake gh refuses what GitHub and the CLI refuse,
the rewrites touch only what act lacks, the limits fail a run past GitHub's. Fast tier."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from harness import rewrite
from harness.engine import HARNESS, ROOT, Run
from harness.limits import LimitExceeded, check


@pytest.fixture
def gh(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "issues": [],
                "pulls": [],
                "comments": [],
                "runs": [],
                "deployments": [],
                "branches": {"main": "0" * 40},
            }
        )
    )
    calls = tmp_path / "calls.jsonl"
    env = {
        **os.environ,
        "MMEOPS_HARNESS_GH_STATE": str(state),
        "MMEOPS_HARNESS_GH_CALLS": str(calls),
        "GITHUB_REPOSITORY": "acme/mmeops",
    }

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(HARNESS / "fake_gh.py"), *args],
            env=env,
            capture_output=True,
            text=True,
        )

    call.state = lambda: json.loads(state.read_text())
    call.calls = lambda: [json.loads(li) for li in calls.read_text().splitlines()]
    return call


def test_fake_gh_refuses_an_unknown_flag_and_records_the_call(gh):
    done = gh("issue", "list", "--repo", "acme/mmeops", "--labels", "x", "--json", "number")
    assert done.returncode == 1 and "unknown flag: --labels" in done.stderr
    assert gh.calls()[-1]["outcome"] == "refused"


def test_fake_gh_refuses_a_body_over_65536_characters_and_keeps_no_issue(gh, tmp_path):
    """GitHub answers 422 for an issue or comment body over 65,536 characters."""
    body = tmp_path / "body.md"
    body.write_text("x" * 65_537)
    args = ("issue", "create", "--repo", "acme/mmeops", "--title", "t", "--body-file", str(body))
    done = gh(*args)
    assert done.returncode == 1 and "body is too long" in done.stderr
    assert gh.state()["issues"] == []
    body.write_text("x" * 65_536)
    assert gh(*args).returncode == 0
    assert len(gh.state()["issues"]) == 1


def test_fake_gh_finds_issues_by_title_and_closes_them(gh, tmp_path):
    body = tmp_path / "b.md"
    body.write_text("drift")
    gh(
        "issue",
        "create",
        "--repo",
        "acme/mmeops",
        "--title",
        "Drift in qa",
        "--body-file",
        str(body),
    )
    search = (
        "issue",
        "list",
        "--repo",
        "acme/mmeops",
        "--state",
        "open",
        "--search",
        '"Drift in qa" in:title',
        "--json",
        "number,title",
        "--jq",
        ".[].number",
    )
    number = gh(*search).stdout.strip()
    assert number
    assert gh("issue", "close", number, "--repo", "acme/mmeops", "--comment", "ok").returncode == 0
    assert gh(*search).stdout.strip() == ""


def test_self_uses_becomes_the_repository_at_the_commit_and_nothing_else_changes():
    text = "steps:\n  - uses: $/actions/setup\n  - uses: actions/checkout@abc # v1\n"
    out = rewrite.self_uses(text, "acme/mmeops", "f" * 40)
    assert out == (
        f"steps:\n  - uses: acme/mmeops/actions/setup@{'f' * 40}\n"
        "  - uses: actions/checkout@abc # v1\n"
    )


def test_the_rewrite_keeps_every_self_uses_line_so_the_commit_can_go_in_after_it():
    """rewrite_tree rewrites a workflow before `self_uses` names the run's commit in it (the
    rewrite is cached by text, and the commit differs per run): the same result only while the
    rewrite leaves each `uses: $/...` as it found it (unquoted, in order). On every workflow."""
    self_uses = re.compile(r"\buses:\s*(\$/\S+)")
    seen = 0
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        text = path.read_text()
        lines = self_uses.findall(text)
        assert self_uses.findall(rewrite.rewrite_workflow(text)) == lines, path.name
        seen += len(lines)
    assert seen, "no workflow uses $/ any more: the check above checks nothing"


def test_a_job_in_an_environment_reads_its_vars_and_has_an_oidc_token_only_if_granted():
    wf = (
        "on: push\npermissions: {contents: read}\njobs:\n"
        "  a:\n    runs-on: x\n    environment: ${{ matrix.e }}-readonly\n"
        "    permissions: {id-token: write}\n"
        "    steps:\n      - run: echo\n        env: {R: '${{ vars.AWS_ROLE_ARN }}'}\n"
        "  b:\n    runs-on: x\n    steps:\n      - run: echo\n"
    )
    out = rewrite.rewrite_workflow(wf)
    assert "MMEOPS_HARNESS_ENVIRONMENT: ${{ format('{0}-readonly', matrix.e) }}" in out
    assert "[env.MMEOPS_HARNESS_ENVIRONMENT].vars.AWS_ROLE_ARN || vars.AWS_ROLE_ARN" in out
    a, b = out.split("\n  b:\n")
    assert "MMEOPS_HARNESS_ID_TOKEN: 'true'" in a or "MMEOPS_HARNESS_ID_TOKEN: true" in a
    assert "ID_TOKEN: 'false'" in b or "ID_TOKEN: false" in b


def _run(**job) -> Run:
    entry = {"kind": "job", "job": "j", "outputs": {}, "summary_bytes": 0, "matrix": {}, **job}
    return Run("w.yml", 0, [], [entry], 1, "0" * 40)


def test_limits_fail_outputs_over_1_mb_a_matrix_over_256_and_a_summary_over_1_mib():
    check(_run(outputs={"o": "x" * 500_000}))  # 1,000,000 bytes in UTF-16: at the limit
    with pytest.raises(LimitExceeded, match="outputs"):
        check(_run(outputs={"o": "x" * 500_001}))
    with pytest.raises(LimitExceeded, match="matrix"):
        check(_run(matrix={"m": 1}, job_total=257))
    with pytest.raises(LimitExceeded, match="summary"):
        check(_run(summary_bytes=1024 * 1024 + 1))


def test_a_job_in_an_environment_first_checks_its_deployment_branch_rule_then_skips_all():
    """harness/protection.py runs first; every other step, `always()` ones included, runs only
    if it admitted the job (GitHub runs no step of a job its environment refuses)."""
    wf = (
        "on: push\njobs:\n  a:\n    runs-on: x\n    environment: github-app\n    steps:\n"
        "      - run: echo one\n      - run: echo two\n        if: ${{ always() }}\n"
        "  b:\n    runs-on: x\n    steps:\n      - run: echo\n"
    )
    out = rewrite.rewrite_workflow(wf)
    a, b = out.split("\n  b:\n")
    steps = a.split("\n    - ")[1:]
    assert "mmeops-harness environment protection" in steps[0]
    assert "if: env.MMEOPS_HARNESS_DENIED != 'true' && (success())" in steps[1]
    assert "if: env.MMEOPS_HARNESS_DENIED != 'true' && (always())" in steps[2]
    assert "mmeops-harness record" in steps[3] and "if: always()" in steps[3]
    assert "protection" not in b


@pytest.mark.parametrize(
    ("branch", "admitted"), [("main", True), ("mmeops/retrain-sandbox", False), ("main2", False)]
)
def test_the_deployment_branch_rule_admits_main_alone(tmp_path, branch, admitted):
    envs = tmp_path / "environments.json"
    envs.write_text(json.dumps({"github-app": {"branches": ["main"]}, "qa-readonly": {}}))
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    env = {
        **os.environ,
        "MMEOPS_HARNESS_ENVIRONMENTS_FILE": str(envs),
        "GITHUB_ENV": str(github_env),
        "MMEOPS_HARNESS_BRANCH": branch,
    }
    script = str(HARNESS / "protection.py")
    for name, expect in (("github-app", admitted), ("qa-readonly", True)):
        proc = subprocess.run(
            [sys.executable, script],
            env={**env, "MMEOPS_HARNESS_ENVIRONMENT": name},
            capture_output=True,
            text=True,
        )
        assert (proc.returncode == 0) is expect, proc.stdout
    assert ("MMEOPS_HARNESS_DENIED=true" in github_env.read_text()) is (not admitted)


def test_the_setup_action_install_is_the_one_line_the_harness_links_from_its_session_build():
    """rewrite.py swaps actions/setup's `pip install .` for the session build's link; if the
    action ever installs differently, the harness must fail loudly, not install nothing."""
    text = (HARNESS.parents[2] / "actions/setup/action.yml").read_text()
    out = rewrite.install_from_session_build(text)
    assert rewrite.PIP_INSTALL not in out and 'standins.py" install-mmeops' in out
    with pytest.raises(AssertionError, match="no longer runs"):
        rewrite.install_from_session_build(text.replace(rewrite.PIP_INSTALL, "pip install -e ."))
