"""Fixtures shared by the monitor tests."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import uuid

import pytest

from helpers import fresh_accounts
from mmeops.config.repo import load_repo
from mmeops.deploy.reconcile import reconcile
from mmeops.extract.run import extract
from mmeops.register.run import register
from mmeops.tune.run import tune
from monitor.served_model import (
    REPO_ROOT,
    TODAY,
    Served,
    create_table,
    insert,
    model_files,
    rows,
)


@pytest.fixture(scope="package")
def served(stack, tmp_path_factory) -> Served:
    """A regression model on its own table, v1 registered by `register` and served in
    sandbox (its own artifact prefix and endpoint name on the shared stack). Built once for
    the package: the warehouse and capture tests judge the same served version."""
    root = tmp_path_factory.mktemp("monitor")
    shutil.copy2(REPO_ROOT / "mmeops.yaml", root / "mmeops.yaml")
    for folder in ("models", "environments"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    uid = uuid.uuid4().hex[:6]
    for path in (root / "environments").glob("*.yaml"):  # private prefix and endpoint names
        text = re.sub(r"(artifact_prefix: s3://[^/]+/)mme/", rf"\g<1>mon{uid}/", path.read_text())
        path.write_text(re.sub(r"(  name: mme-[a-z]+)", rf"\g<1>-{uid}", text))
    fresh_accounts(root, uid)  # its own accounts, bootstrapped for that prefix and endpoint
    name, table = f"mon-{uid}", f"public.mon_{uid}"
    create_table(stack.dsn, table)
    train = rows(
        1500, seed=1, day=dt.date(2025, 1, 1), span_days=(TODAY - dt.date(2025, 1, 3)).days
    )
    insert(stack.dsn, table, train)

    model = root / "models" / name
    model.mkdir()
    template = (root / "models" / "diabetes-progression" / "model.yaml").read_text()
    for file, text in model_files(template, name, table).items():
        (model / file).write_text(text)

    repo = load_repo(root)
    extract(repo, name)
    tune(repo, name)
    reg = register(repo, name)
    assert reg.version == 1, reg.verdict.summary()
    env = root / "environments" / "sandbox.yaml"
    env.write_text(env.read_text().replace("models: {}", f"models:\n  {name}: 1"))
    report = reconcile(load_repo(root), "sandbox", "apply", poll_seconds=0.1)
    assert not report.failed, report.summary()
    return Served(root, name, table, stack.dsn)
