"""Bad input ends with exit 2, one line naming the file and line, and no AWS write.

Table-driven: each case edits a scratch copy of the repository, runs one CLI command in-process
against the embedded stack, and checks what a user sees (exit code 2, exactly one `Error:` line
naming `path:line` where there is one, no traceback) and what AWS saw (no mutating call,
counted with botocore's before-call hook through `mmeops.aws.add_call_listener`). `validate`
prints one `path:line: problem` line per problem instead.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import fresh_accounts
from mmeops import aws
from mmeops.cli import main

UID = uuid.uuid4().hex[:6]
# Models with registry state made by the `registry` fixture (names unique to this session).
REJECTED = f"bi-rejected-{UID}"
DP = "diabetes-progression"
DP_YAML = f"models/{DP}/model.yaml"
DP_SQL = f"models/{DP}/query.sql"

Edit = Callable[[Path], None]


@dataclass(frozen=True)
class At:
    """Expect `path:line`, the line being the first in `path` (after the edits) with `needle`."""

    path: str
    needle: str

    def resolve(self, root: Path) -> str:
        for n, line in enumerate((root / self.path).read_text().splitlines(), 1):
            if self.needle in line:
                return f"{self.path}:{n}"
        raise AssertionError(f"{self.needle!r} not in {self.path}")


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: At | str  # `path:line` (At) or a fragment of the message when there is no file
    edits: tuple[Edit, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


# --- edits -----------------------------------------------------------------------------------


def write(path: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)

    return edit


def replace(path: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        text = (root / path).read_text()
        assert old in text, f"{old!r} not in {path}"
        (root / path).write_text(text.replace(old, new, 1))

    return edit


def resub(path: str, pattern: str, new: str) -> Edit:
    """`replace` for text `isolate` rewrites (account ids): the first match of `pattern`."""

    def edit(root: Path) -> None:
        text = (root / path).read_text()
        assert re.search(pattern, text), f"{pattern!r} matches nothing in {path}"
        (root / path).write_text(re.sub(pattern, new, text, count=1))

    return edit


def add_model(name: str) -> Edit:
    """A copy of diabetes-progression under another name."""

    def edit(root: Path) -> None:
        shutil.copytree(root / "models" / DP, root / "models" / name)
        replace(f"models/{name}/model.yaml", f"name: {DP}", f"name: {name}")(root)

    return edit


def pin(env: str, models: str) -> Edit:
    return replace(f"environments/{env}.yaml", "models: {}", f"models:\n{models}")


def sql(body: str) -> Edit:
    return write(DP_SQL, body)


WHERE = "WHERE event_date >= %(start_date)s AND event_date < %(end_date)s\n"

# --- the table -------------------------------------------------------------------------------

COMMAND_CASES = [
    # extract: the query, the window, the result's columns
    Case(
        "extract-sql-syntax",
        ("extract", DP),
        At(DP_SQL, "SELEC age"),
        (sql(f"-- a typo on line 2\nSELEC age, progression\nFROM demo.diabetes\n{WHERE}"),),
    ),
    Case(
        "extract-unknown-table",
        ("extract", DP),
        At(DP_SQL, "FROM demo.nope"),
        (sql(f"SELECT age, progression\nFROM demo.nope\n{WHERE}"),),
    ),
    Case(
        "extract-unknown-column",
        ("extract", DP),
        At(DP_SQL, "no_such_column"),
        (sql(f"SELECT age,\n  no_such_column, progression\nFROM demo.diabetes\n{WHERE}"),),
    ),
    Case(
        "extract-missing-target",
        ("extract", DP),
        At(DP_YAML, "target: progression"),
        (sql(f"SELECT event_date, age, bmi FROM demo.diabetes\n{WHERE}"),),
    ),
    Case(
        "extract-missing-time-column",
        ("extract", DP),
        At(DP_YAML, "time_column: event_date"),
        (sql(f"SELECT age, bmi, progression FROM demo.diabetes\n{WHERE}"),),
    ),
    Case(
        "extract-non-numeric-feature",
        ("extract", DP),
        DP_SQL,
        (
            sql(
                "SELECT event_date, 'x'::text AS label, age, progression\n"
                f"FROM demo.diabetes\n{WHERE}"
            ),
        ),  # fmt: skip
    ),
    Case(
        "extract-only-target",
        ("extract", DP),
        DP_SQL,
        (sql(f"SELECT event_date, progression FROM demo.diabetes\n{WHERE}"),),
    ),
    Case(
        "extract-window-unused",
        ("extract", DP),
        DP_SQL,
        (sql("SELECT event_date, age, progression FROM demo.diabetes\n"),),
    ),
    Case(
        "extract-column-twice",
        ("extract", DP),
        DP_SQL,
        (sql(f"SELECT event_date, age, age, progression FROM demo.diabetes\n{WHERE}"),),
    ),
    Case(
        "extract-empty-window",
        ("extract", DP, "--start", "2025-03-01", "--end", "2025-02-01"),
        "empty window",
    ),  # fmt: skip
    Case(
        "extract-window-without-rows",
        ("extract", DP, "--start", "2001-01-01", "--end", "2001-02-01"),
        DP_SQL,
    ),
    Case("extract-bad-date", ("extract", DP, "--start", "2025-13-01"), "'--start'"),
    Case("extract-bad-run-id", ("extract", DP, "--run-id", "../../x"), "run id"),
    Case("extract-unknown-model", ("extract", "nope"), "unknown model 'nope'"),
    Case(
        "extract-bad-dsn",
        ("extract", DP, "--start", "2025-01-01", "--end", "2025-02-01"),
        "not a valid PostgreSQL connection string",
        env={"MMEOPS_WAREHOUSE_DSN": "host=127.0.0.1 port=notaport = ="},
    ),
    # tune
    Case(
        "tune-unknown-dataset",
        ("tune", DP, "--dataset", "20990101T000000Z-abcdef"),
        "20990101T000000Z-abcdef",
    ),  # fmt: skip
    Case(
        "tune-version-skew",
        ("tune", DP, "--dataset", "20990101T000000Z-abcdef"),
        At(DP_YAML, "image_version"),
        (replace(DP_YAML, 'image_version: "3.2-0"', 'image_version: "1.7-1"'),),
    ),
    Case("tune-unknown-model", ("tune", "nope"), "unknown model 'nope'"),
    Case("tune-unknown-backend", ("tune", DP, "--backend", "gpu"), "'--backend'"),
    Case("tune-zero-jobs", ("tune", DP, "--max-jobs", "0"), "'--max-jobs'"),
    # register
    Case("register-unknown-tuning-job", ("register", DP, "--tuning-job", "nope-123"), "nope-123"),
    Case("register-unknown-model", ("register", "nope"), "unknown model 'nope'"),
    # reconcile: file, policy, registry (with --apply: not even the lease is taken)
    Case("reconcile-unknown-env", ("reconcile", "nope", "--apply"), "unknown environment 'nope'"),
    Case(
        "reconcile-bad-env-file",
        ("reconcile", "sandbox", "--apply"),
        At("environments/sandbox.yaml", "instance_count"),
        (replace("environments/sandbox.yaml", "instance_count: 1", "instance_count: one"),),
    ),
    Case(
        "reconcile-version-not-in-registry",
        ("reconcile", "sandbox", "--apply"),
        At("environments/sandbox.yaml", f"{DP}: 999"),
        (pin("sandbox", f"  {DP}: 999"),),
    ),
    Case(
        "reconcile-rejected-version",
        ("reconcile", "sandbox", "--apply"),
        At("environments/sandbox.yaml", f"{REJECTED}: 1"),
        (add_model(REJECTED), pin("sandbox", f"  {REJECTED}: 1")),
    ),
    Case(
        "reconcile-promotion-from",
        ("reconcile", "qa", "--apply"),
        At("environments/qa.yaml", f"{DP}: 1"),
        (pin("qa", f"  {DP}: 1"),),
    ),
    Case(
        "reconcile-promotion-from-newer",
        ("reconcile", "qa", "--plan"),
        At("environments/qa.yaml", f"{DP}: 4"),
        (pin("sandbox", f"  {DP}: 3"), pin("qa", f"  {DP}: 4")),
    ),
    Case("reconcile-two-modes", ("reconcile", "sandbox", "--output", "xml"), "'--output'"),
    # promote
    Case(
        "promote-policy-refusal",
        ("promote", DP, "2", "--to", "qa"),
        At("environments/sandbox.yaml", "models:"),
    ),
    Case(
        "promote-newer-than-upstream",
        ("promote", DP, "5", "--to", "qa"),
        At("environments/sandbox.yaml", f"{DP}: 2"),
        (pin("sandbox", f"  {DP}: 2"),),
    ),
    Case("promote-version-zero", ("promote", DP, "0", "--to", "sandbox"), "positive whole number"),
    Case("promote-version-text", ("promote", DP, "v2", "--to", "sandbox"), "'[VERSION]'"),
    Case("promote-unknown-model", ("promote", "nope", "1", "--to", "sandbox"), "unknown model"),
    Case("promote-unknown-env", ("promote", DP, "1", "--to", "nope"), "unknown environment"),
    # invoke
    Case(
        "invoke-unmodelled-model",
        ("invoke", "sandbox", "nope", "--body", "rows.csv"),
        "nope is not routed in sandbox",
        (write("rows.csv", "0.1,0.2\n"),),
    ),
    Case(
        "invoke-empty-body",
        ("invoke", "sandbox", DP, "--body", "rows.csv"),
        "request body is empty",
        (write("rows.csv", "\n"),),
    ),
    # The body validator (deploy/body.py) refuses before any AWS call, at the body's line.
    Case(
        "invoke-nan-text",
        ("invoke", "sandbox", DP, "--body", "rows.csv"),
        At("rows.csv", "nan"),
        (write("rows.csv", "0.1,0.2\n0.3,nan\n"),),
    ),
    Case(
        "invoke-header-row",
        ("invoke", "sandbox", DP, "--body", "rows.csv"),
        "looks like a header",
        (write("rows.csv", "age,bmi\n0.1,0.2\n"),),
    ),
    Case(
        "invoke-not-utf8",
        ("invoke", "sandbox", DP, "--body", "rows.csv"),
        "not UTF-8",
        (lambda root: (root / "rows.csv").write_bytes(b"0.1,\xe9\n"),),
    ),
    Case(
        "invoke-unknown-env",
        ("invoke", "nope", DP, "--body", "rows.csv"),
        "unknown environment",
        (write("rows.csv", "0.1,0.2\n"),),
    ),
    Case(
        "invoke-missing-body-file",
        ("invoke", "sandbox", DP, "--body", "/nonexistent.csv"),
        "'--body'",
    ),  # fmt: skip
    # due
    Case("due-bad-window", ("due", "--window", "5x"), "--window"),
    Case(
        "due-empty-window",
        ("due", "--since", "2026-01-02T00:00Z", "--until", "2026-01-01T00:00Z"),
        "window is empty",
    ),
    Case("due-bad-time", ("due", "--since", "yesterday"), "ISO 8601"),
    # the whole repository is validated first by every command
    Case(
        "retrain-bad-model-yaml",
        ("retrain", DP),
        At(DP_YAML, "max_jobs"),
        (replace(DP_YAML, "max_jobs: 12", "max_jobs: 0"),),
    ),
    Case(
        "extract-bad-settings",
        ("extract", DP),
        At("mmeops.yaml", "bucket:"),
        (replace("mmeops.yaml", "bucket: mmeops-training", "bucket: Bad_Bucket"),),
    ),
]

VALIDATE_CASES = [
    Case(
        "yaml-syntax",
        ("validate",),
        At(DP_YAML, "problem: regression: x"),
        (replace(DP_YAML, "problem: regression", "problem: regression: x"),),
    ),
    Case(
        "duplicate-key",
        ("validate",),
        At(DP_YAML, "target: other"),
        (replace(DP_YAML, "target: progression", "target: progression\ntarget: other"),),
    ),
    Case(
        "unknown-key",
        ("validate",),
        At(DP_YAML, "targt:"),
        (replace(DP_YAML, "target: progression", "target: progression\ntargt: x"),),
    ),
    Case(
        "missing-key",
        ("validate",),
        f"{DP_YAML}:",
        (replace(DP_YAML, "problem: regression\n", ""),),
    ),
    Case(
        "wrong-type",
        ("validate",),
        At(DP_YAML, "max_depth"),
        (
            replace(
                DP_YAML,
                "max_depth: {type: integer, min: 2, max: 6}",
                "max_depth: {type: integer, min: 6, max: 2}",
            ),
        ),
    ),  # fmt: skip
    Case(
        "not-a-mapping",
        ("validate",),
        "environments/qa.yaml:1",
        (write("environments/qa.yaml", "- just\n- a list\n"),),
    ),
    Case(
        "not-utf8",
        ("validate",),
        "environments/qa.yaml",
        (lambda root: (root / "environments/qa.yaml").write_bytes(b"name: q\xe9\xff\n"),),
    ),
    Case(
        "tab-indent",
        ("validate",),
        "environments/qa.yaml:",
        (replace("environments/qa.yaml", "  instance_type", "\tinstance_type"),),
    ),
    Case(
        "bad-account-id",
        ("validate",),
        At("environments/prod.yaml", "account_id: 44"),
        (resub("environments/prod.yaml", r'account_id: "\d{12}"', "account_id: 44"),),
    ),
    Case(
        "pinned-unknown-model",
        ("validate",),
        At("environments/sandbox.yaml", "ghost: 1"),
        (pin("sandbox", "  ghost: 1"),),
    ),
    Case(
        "promotion-cycle",
        ("validate",),
        At("environments/sandbox.yaml", "promotion_from"),
        (replace("environments/sandbox.yaml", "promotion_from: null", "promotion_from: prod"),),
    ),
    Case(
        "settings-bad-region",
        ("validate",),
        At("mmeops.yaml", "region"),
        (replace("mmeops.yaml", "region: us-east-1", "region: mars"),),
    ),
    Case(
        "settings-two-dsn-sources",
        ("validate",),
        At("mmeops.yaml", "warehouse:"),
        (replace("mmeops.yaml", "  dsn_env: MMEOPS", "  secret_id: x\n  dsn_env: MMEOPS"),),
    ),
    Case(
        "bad-cron",
        ("validate",),
        At(DP_YAML, "schedule:"),
        (replace(DP_YAML, 'schedule: "0 3 * * 1"', 'schedule: "every monday"'),),
    ),
    Case(
        "query-file-missing",
        ("validate",),
        At(DP_YAML, "query:"),
        (lambda root: (root / DP_SQL).unlink(),),
    ),
    Case(
        "empty-file",
        ("validate",),
        "mmeops.yaml:1",
        (write("mmeops.yaml", ""),),
    ),
]


# --- running a case --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(stack):
    """A registered, then Rejected, version 1 of REJECTED in the training account."""
    from mmeops.config.repo import load_repo

    repo = load_repo(Path(__file__).resolve().parents[2])
    t = repo.settings.training
    training = aws.for_account(t.account_id, t.region, t.role_arn)
    training.call("sagemaker", "create_model_package_group", ModelPackageGroupName=REJECTED)
    arn = training.call(
        "sagemaker",
        "create_model_package",
        ModelPackageGroupName=REJECTED,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost:3.2-0", "ModelDataUrl": "s3://x/y.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    reviewer = stack.admin(t.account_id)  # a person in the console: no product role
    reviewer.call(
        "sagemaker",
        "update_model_package",
        ModelPackageArn=arn,
        ModelApprovalStatus="Rejected",
        ApprovalDescription="rejected by the bad-input tests",
        CustomerMetadataProperties={"artifact_sha256": "0" * 64},
    )
    return REJECTED


def isolate(root: Path) -> None:
    """Private endpoint names and artifact prefixes, so nothing here meets other tests' state."""
    for path in (root / "environments").glob("*.yaml"):
        text = path.read_text().replace("/mme/", f"/bad-inputs-{UID}/")
        path.write_text(re.sub(r"name: mme-(\w+)", rf"name: bi-{UID}-\1", text))
    fresh_accounts(root, UID)  # their own accounts, bootstrapped from the template


def run(root: Path, case: Case):
    """Run the case's command in-process; returns (result, mutating calls)."""
    mutating: list[str] = []

    def listen(service: str, operation: str, _params: dict) -> None:
        if aws.is_mutating(operation):
            mutating.append(f"{service}:{operation}")

    remove = aws.add_call_listener(listen)
    try:
        env = {k: v.replace("{root}", str(root)) for k, v in case.env.items()}
        result = CliRunner().invoke(main, ["--repo", str(root), *case.argv], env=env)
    finally:
        remove()
    return result, mutating


def prepare(root: Path, case: Case) -> str:
    isolate(root)
    for edit in case.edits:
        edit(root)
    return case.expect.resolve(root) if isinstance(case.expect, At) else case.expect


@pytest.mark.parametrize("case", COMMAND_CASES, ids=lambda c: c.id)
def test_bad_input_exits_2_with_one_line_naming_the_place_and_writes_nothing(
    case: Case, stack, registry, repo_copy, monkeypatch
):
    monkeypatch.chdir(repo_copy)  # relative --body files
    expected = prepare(repo_copy, case)
    result, mutating = run(repo_copy, case)
    output = result.output  # stdout and stderr as the user sees them
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2, output
    assert isinstance(result.exception, SystemExit), output  # not an uncaught exception
    assert "Traceback" not in output
    assert len(errors) == 1, output
    assert expected in errors[0]
    if isinstance(case.expect, At):  # `path:line: message`, the form editors jump to
        assert re.search(rf"{re.escape(expected)}: \S", errors[0]), errors[0]
    assert mutating == []


@pytest.mark.parametrize("case", VALIDATE_CASES, ids=lambda c: c.id)
def test_validate_names_each_problem_on_its_own_path_line(case: Case, repo_copy):
    expected = prepare(repo_copy, case)
    result, mutating = run(repo_copy, case)
    lines = result.output.splitlines()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert lines and all(re.match(r"^[\w./-]+(:\d+)?: \S", line) for line in lines), lines
    assert any(line.startswith(expected) for line in lines), lines
    assert mutating == []


def test_the_table_covers_at_least_40_cases_across_every_input_kind():
    cases = COMMAND_CASES + VALIDATE_CASES
    commands = {c.argv[0] for c in cases}
    assert len(cases) >= 40
    assert {"extract", "tune", "register", "reconcile", "promote", "invoke", "due", "validate"} <= (
        commands
    )
