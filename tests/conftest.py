"""Fixtures every test module may use: one embedded stack per session, and a repo copy."""

from __future__ import annotations

import os
import shutil
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
    from mmeops.stack import EmbeddedStack

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
