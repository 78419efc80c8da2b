"""The warehouse password and AWS secret keys never reach output, logs or exception text.

conftest.py scans what every test printed; these tests provoke the likely leaks on purpose:
connection errors that quote a DSN, a DSN kept in Secrets Manager, help texts, machine-readable
reconcile output and the traceback of an unexpected failure.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from helpers import isolate
from mmeops import aws
from mmeops.cli import main
from mmeops.stack.moto_server import BASE_SECRET_ACCESS_KEY

DP = "diabetes-progression"
PLANTED = "Pl4nted-Secret-" + uuid.uuid4().hex  # a password that must never be shown


def shown(result) -> str:
    """Everything a user or a log could see of a CLI run, traceback included."""
    text = result.output
    if result.exc_info and not isinstance(result.exception, SystemExit):
        text += "".join(traceback.format_exception(*result.exc_info))
    return text


def stack_secrets(stack) -> list[str]:
    secrets = [BASE_SECRET_ACCESS_KEY, urlsplit(stack.dsn).password]
    for session in list(aws._sessions.values()):
        creds = session.session.get_credentials()
        if creds is not None:
            secrets.append(creds.secret_key)
    return [s for s in secrets if s]


def extract(root: Path, env: dict | None = None, *args: str):
    argv = ["--repo", str(root), "extract", DP, "--start", "2025-01-01", "--end", "2025-02-01"]
    return CliRunner().invoke(main, [*argv, *args], env=env)


def dsn_with(stack, *, password: str, port: int | None = None) -> str:
    parts = urlsplit(stack.dsn)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{port or parts.port}"
    return parts._replace(netloc=netloc).geturl()


# --- the warehouse password ------------------------------------------------------------------


def test_connection_refused_names_the_host_not_the_password(stack, repo_copy):
    result = extract(repo_copy, {"MMEOPS_WAREHOUSE_DSN": dsn_with(stack, password=PLANTED, port=1)})
    assert result.exit_code != 0
    assert "127.0.0.1" in result.output  # the message says where it tried
    assert PLANTED not in shown(result)


def test_a_wrong_password_is_reported_without_either_password(stack, repo_copy):
    result = extract(repo_copy, {"MMEOPS_WAREHOUSE_DSN": dsn_with(stack, password=PLANTED)})
    assert result.exit_code == 2, result.output
    assert "authentication failed" in result.output  # says what is wrong
    assert PLANTED not in shown(result)
    assert urlsplit(stack.dsn).password not in shown(result)


def test_a_malformed_dsn_is_refused_without_echoing_it(stack, repo_copy):
    dsn = f"host=127.0.0.1 password={PLANTED} port='unterminated"
    result = extract(repo_copy, {"MMEOPS_WAREHOUSE_DSN": dsn})
    assert result.exit_code == 2, result.output
    assert PLANTED not in shown(result)


@pytest.fixture
def secret_repo(stack, repo_copy):
    """A repo copy reading its DSN from a Secrets Manager secret in the training account."""
    settings = repo_copy / "mmeops.yaml"
    name = f"mmeops/warehouse-{uuid.uuid4().hex[:8]}"
    text = settings.read_text().replace("  dsn_env: MMEOPS_WAREHOUSE_DSN", f"  secret_id: {name}")
    settings.write_text(text)
    training = stack.admin("111111111111")  # seeding: the product never creates secrets
    return repo_copy, lambda value: training.call(
        "secretsmanager", "create_secret", Name=name, SecretString=value
    )


def test_a_dsn_from_secrets_manager_is_used_and_never_shown(stack, secret_repo):
    root, put_secret = secret_repo
    parts = urlsplit(stack.dsn)
    put_secret(
        json.dumps(
            {
                "host": parts.hostname,
                "port": parts.port,
                "dbname": parts.path.lstrip("/"),
                "username": parts.username,
                "password": parts.password,
            }
        )
    )
    result = extract(root)
    assert result.exit_code == 0, result.output
    assert "extracted diabetes-progression" in result.output
    assert parts.password not in shown(result)


@pytest.mark.parametrize("secret", ["dsn", "json", "broken-json"])
def test_a_bad_dsn_from_secrets_manager_fails_without_showing_it(stack, secret_repo, secret):
    root, put_secret = secret_repo
    dsn = dsn_with(stack, password=PLANTED, port=1)
    value = {
        "dsn": dsn,
        "json": json.dumps({"dsn": dsn}),
        "broken-json": '{"password": "' + PLANTED + '", ',
    }[secret]
    put_secret(value)
    result = extract(root)
    assert result.exit_code == 2  # bad input: one clear line, never a traceback
    assert PLANTED not in shown(result)
    if secret == "broken-json":
        assert "mmeops.yaml:" in shown(result) and "holds no usable DSN" in shown(result)


# --- help, JSON output, tracebacks -----------------------------------------------------------


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


def test_no_help_text_shows_a_secret_from_the_environment(stack):
    secrets = stack_secrets(stack)
    for argv in [(), *_commands(main)]:
        result = CliRunner().invoke(main, [*argv, "--help"])
        assert result.exit_code == 0, argv
        assert not [s for s in secrets if s in result.output], argv


@pytest.mark.parametrize("output", ["json", "markdown", "table"])
def test_reconcile_output_shows_no_secret(stack, repo_copy, output):
    isolate(repo_copy, "secrets-test-")  # its own accounts, bootstrapped for its prefix
    argv = ["--repo", str(repo_copy), "reconcile", "sandbox", "--plan", "--output", output]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    if output == "json":
        json.loads(result.output)
    assert not [s for s in stack_secrets(stack) if s in result.output]


class _Garbage(http.server.BaseHTTPRequestHandler):
    """An 'AWS' that answers every request with 200 and a body no parser accepts."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(b"<not-xml")

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args):  # quiet
        pass


@pytest.mark.shows_traceback  # --debug: without it, one line (tests/cli/test_unexpected_errors.py)
def test_the_traceback_of_an_unexpected_aws_failure_shows_no_secret(stack, repo_copy):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "AWS_ACCESS_KEY_ID": "AKIAMMEOPSTESTLEAK01",
            "AWS_SECRET_ACCESS_KEY": PLANTED,
        }
        env.pop("AWS_SESSION_TOKEN", None)
        mmeops = Path(sys.executable).with_name("mmeops")
        argv = [str(mmeops), "--debug", "--repo", str(repo_copy), "reconcile", "sandbox", "--plan"]
        run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode != 0
    assert "Traceback (most recent call last)" in run.stderr  # it failed loudly
    shown_text = run.stdout + run.stderr
    assert PLANTED not in shown_text
    assert urlsplit(stack.dsn).password not in shown_text
