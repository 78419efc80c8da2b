"""Fixtures every test module may use: one embedded stack per session, and a repo copy."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Without these, SDK imports may probe the instance-metadata address (FACTS.md).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture(scope="session")
def stack() -> Iterator:
    """The embedded stack (moto, PostgreSQL with demo tables, local MME), its environment
    applied to os.environ for the whole session. Tests share it: use unique names."""
    from mmeops.stack.embedded import EmbeddedStack

    with EmbeddedStack(REPO_ROOT) as s:
        s.apply_env()
        yield s


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch copy of the repository's config (mmeops.yaml, models/, environments/)."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(REPO_ROOT / "mmeops.yaml", root / "mmeops.yaml")
    for d in ("models", "environments"):
        shutil.copytree(REPO_ROOT / d, root / d)
    return root


def pytest_collection_modifyitems(items: list) -> None:
    """Tests marked `suite_wide` check what the whole session did (every AWS call, say): they
    run after all others, wherever their file sits in the tree."""
    items.sort(key=lambda item: item.get_closest_marker("suite_wide") is not None)


# --- reliability (issue 9): what every test did with AWS, and whether it leaked a secret ------
# Two session-wide observers, added here because only conftest.py sees every test. Neither
# changes what a test does: one records AWS calls, the other fails a test that printed a secret.


def _caller() -> str:
    """Who made an AWS call: the innermost frame of our own code, as `mmeops/<stage>/<file>` or
    `tests`; "" when none is on the stack (s3transfer's worker threads)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/scripts/mmeops/" in name and not name.endswith("/mmeops/aws.py"):
            return "mmeops/" + name.rpartition("/scripts/mmeops/")[2]
        if "/tests/" in name:
            return "tests"
        frame = frame.f_back
    return ""


STAGES = ("extract", "tune", "register", "deploy", "monitor")


def _stage() -> str:
    """The stage whose code made an AWS call: the innermost frame in `mmeops/<stage>/` (a
    shared module such as registry.py or jsonl.py runs as its caller's stage); "" when none."""
    frame = sys._getframe(2)
    while frame is not None:
        parts = frame.f_code.co_filename.rpartition("/scripts/mmeops/")[2].split("/")
        if len(parts) > 1 and parts[0] in STAGES:
            return parts[0]
        frame = frame.f_back
    return ""


def _where(service: str, request: dict) -> dict:
    """The resource a call names (what a policy's Resource matches), read back from the
    serialized request that botocore's before-call event carries (the embedded stack's S3 is
    path-style: /bucket/key)."""
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(request.get("url", "")).path)
    if service == "s3":
        bucket, _, key = path.lstrip("/").partition("/")
        where = {"Bucket": bucket, "Key": key}
        query = request.get("query_string")
        if isinstance(query, dict) and "prefix" in query:
            where["Prefix"] = query["prefix"]
        if source := request.get("headers", {}).get("x-amz-copy-source"):
            where["CopySource"] = unquote(source)
        return where
    if service == "sagemaker-runtime":  # POST /endpoints/<name>/invocations
        return {"EndpointName": path.split("/")[2]} if path.count("/") >= 3 else {}
    body = request.get("body")
    if isinstance(body, bytes) and body.startswith(b"{") and len(body) < 4096:
        fields = json.loads(body)
        return {k: fields[k] for k in ("EndpointName", "EndpointConfigName") if k in fields}
    return {}


@pytest.fixture(scope="session", autouse=True)
def aws_calls() -> Iterator[list[tuple[str | None, str, str, str, dict, str]]]:
    """Every AWS call made in-process this session as (account_id, service, wire operation,
    caller, resource parameters, stage); tests/iam/test_least_privilege.py checks them
    against docs/iam/ at the end."""
    from mmeops import aws

    calls: list[tuple[str | None, str, str, str, dict, str]] = []

    def record(account: str | None, service: str, operation: str, request: dict) -> None:
        where = _where(service, request)
        calls.append((account, service, operation, _caller(), where, _stage()))

    remove = aws.add_call_listener(record, with_account=True)
    yield calls
    remove()


_SEEN_SECRETS: set[str] = set()


def _current_secrets() -> set[str]:
    """The running stack's secrets: the warehouse password (from the DSN in os.environ), the
    fake base secret key, and every assumed-role secret key cached so far (kept once seen)."""
    from urllib.parse import urlsplit

    from mmeops import aws
    from mmeops.stack.moto_server import BASE_SECRET_ACCESS_KEY

    _SEEN_SECRETS.add(BASE_SECRET_ACCESS_KEY)
    dsn = os.environ.get("MMEOPS_WAREHOUSE_DSN", "")
    if dsn.startswith("postgresql://") and urlsplit(dsn).password:
        _SEEN_SECRETS.add(urlsplit(dsn).password)
    for session in list(aws._sessions.values()):
        creds = session.session.get_credentials()
        if creds is not None and creds.secret_key:
            _SEEN_SECRETS.add(creds.secret_key)
    return {s for s in _SEEN_SECRETS if len(s) >= 8}  # short strings would match by chance


# --- reliability (issue 19): no command ever prints a Python traceback ---------------------
# Every CliRunner run and every `mmeops` subprocess a test makes is kept here; the report hook
# below fails the test if one printed a traceback or ended in an exception the CLI let through
# (CliRunner swallows those: run for real, they would print one). A test that asks for one on
# purpose (`--debug`) is marked `shows_traceback`.
TRACEBACK = "Traceback (most recent call last)"
_COMMAND_OUTPUTS: list[str] = []


@pytest.fixture(autouse=True)
def _command_outputs(monkeypatch) -> Iterator[None]:
    import subprocess

    from click.testing import CliRunner

    invoke, run = CliRunner.invoke, subprocess.run

    def recording_invoke(self, *args, **kwargs):
        result = invoke(self, *args, **kwargs)
        _COMMAND_OUTPUTS.append(result.output)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            _COMMAND_OUTPUTS.append(f"{TRACEBACK} (uncaught {type(result.exception).__name__})")
        return result

    def recording_run(*args, **kwargs):
        done = run(*args, **kwargs)
        argv = args[0] if args else kwargs.get("args", ())
        words = argv if isinstance(argv, list | tuple) else [argv]
        if any(str(w).endswith("mmeops") for w in words):
            for out in (done.stdout, done.stderr):
                if out:
                    _COMMAND_OUTPUTS.append(
                        out.decode(errors="replace") if isinstance(out, bytes) else out
                    )
        return done

    _COMMAND_OUTPUTS.clear()
    monkeypatch.setattr(CliRunner, "invoke", recording_invoke)
    monkeypatch.setattr(subprocess, "run", recording_run)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail any test phase whose captured stdout/stderr/log or error text holds a secret, and
    any test whose commands printed a traceback."""
    outcome = yield
    report = outcome.get_result()
    captured = "\n".join(content for _, content in report.sections)
    if report.when == "call" and item.get_closest_marker("shows_traceback") is None:
        # Captured stdout/stderr (a subprocess that inherited them), not logs: the embedded
        # servers log their own handlers' failures, which are not a command's output.
        printed = [c for title, c in report.sections if "stdout" in title or "stderr" in title]
        shown = [t for t in [*printed, *_COMMAND_OUTPUTS] if TRACEBACK in t]
        if shown and report.outcome == "passed":
            report.outcome = "failed"
            first = next(line for line in shown[0].splitlines() if TRACEBACK in line)
            report.longrepr = f"{item.nodeid}: a command printed a traceback: {first}"
    text = captured + "\n" + report.longreprtext
    leaked = [secret for secret in _current_secrets() if secret in text]
    if leaked:
        report.outcome = "failed"
        # Name the test and phase, never the secret itself: the failure report is output too,
        # so the captured sections are masked (also for the phases still to come).
        report.longrepr = f"{item.nodeid} ({report.when}): {len(leaked)} secret(s) leaked"
        report.sections = [(title, _mask(content, leaked)) for title, content in report.sections]
        item._report_sections = [(w, k, _mask(c, leaked)) for w, k, c in item._report_sections]


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
