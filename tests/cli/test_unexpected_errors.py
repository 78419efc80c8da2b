"""An exception mmeops did not foresee ends as one line naming where it happened and how to
see more (`--debug`), never a Python traceback (issue 19). conftest.py checks the same for
every command every test runs; here the failure is provoked on purpose: an "AWS" endpoint
whose every answer is unparseable, which no error path of the product expects. With `--debug`,
tests/cli/test_secrets.py checks that the traceback holds no secret."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_secrets import PLANTED, _Garbage


@pytest.fixture
def garbage_aws() -> Iterator[dict]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_ACCESS_KEY_ID": "AKIAMMEOPSTESTLEAK01",
        "AWS_SECRET_ACCESS_KEY": PLANTED,
    }
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("MMEOPS_DEBUG", None)
    try:
        yield env
    finally:
        server.shutdown()
        server.server_close()


def mmeops(env: dict, *argv: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("mmeops")), *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_an_unexpected_exception_is_one_line_with_a_pointer_to_debug(stack, repo_copy, garbage_aws):
    run = mmeops(garbage_aws, "--repo", str(repo_copy), "reconcile", "sandbox", "--plan")
    assert run.returncode == 1, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("Error: unexpected "), line
    assert "rerun with --debug to see the traceback" in line
    assert "Traceback" not in run.stdout + run.stderr and PLANTED not in line
