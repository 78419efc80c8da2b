"""Processes killed between two AWS writes, for the crash tests (tests/deploy/test_crash.py,
tests/tune/test_sagemaker.py). A test-only helper: it runs the CLI, which the embedded stack
may not import."""

from __future__ import annotations

import os
import signal
import threading


def crash_after(calls: int) -> None:
    """Make this process die by SIGKILL right before its mutating AWS call number `calls + 1`
    (counted through `mmeops.aws`'s call listeners): a real stop between two writes, with any
    concurrent request still in flight. Only tests use it (tests/deploy/test_crash.py)."""
    from mmeops import aws

    seen = 0
    lock = threading.Lock()

    def listener(service: str, operation: str, params: dict) -> None:
        nonlocal seen
        if aws.is_mutating(operation):
            with lock:
                seen += 1
                if seen > calls:
                    os.kill(os.getpid(), signal.SIGKILL)

    aws.add_call_listener(listener)


def run_cli_crashing(argv: list[str], env: dict[str, str], calls: int, output: str) -> None:
    """A child process's body: `mmeops ARGV` with `env` added, its output in the file `output`,
    killed before mutating call `calls + 1` (a multiprocessing target: importable by name)."""
    os.environ.update(env)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    crash_after(calls)
    from mmeops.cli import main

    main(argv, prog_name="mmeops")
