"""The embedded stack: accounts and buckets, the demo warehouse, the CLI (endpoint lifecycles:
test_endpoints.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import psycopg2
import pytest

from mmeops import aws
from mmeops.config.repo import load_repo
from mmeops.stack import demo_data
from mmeops.stack.postgres import PgCluster


def _count(dsn: str, table: str, before: dt.date | None = None) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        where = "WHERE event_date < %s" if before else ""
        cur.execute(f"SELECT count(*) FROM {table} {where}", (before,) if before else None)
        n = cur.fetchone()[0]
    conn.close()
    return n


def test_demo_tables_hold_the_rows_dated_before_2026(stack):
    for table, frame in demo_data.tables().items():
        initial = int((frame["event_date"] < demo_data.CUTOFF).sum())
        assert 0 < initial < len(frame)
        assert _count(stack.dsn, table, before=demo_data.CUTOFF) == initial


def test_each_models_query_runs_against_the_warehouse(stack):
    repo = load_repo(stack.repo_root)
    for name, model in repo.models.items():
        sql = (stack.repo_root / "models" / name / model.query).read_text()
        with psycopg2.connect(stack.dsn) as conn, conn.cursor() as cur:
            cur.execute(sql, {"start_date": dt.date(2025, 1, 1), "end_date": dt.date(2026, 1, 1)})
            columns = [c.name for c in cur.description]
            rows = cur.fetchall()
        conn.close()
        assert model.target in columns
        assert len(rows) > 100


def test_new_rows_arrive_once():
    pg = PgCluster()
    dsn = pg.start()
    try:
        first = demo_data.load_initial(dsn)
        arrived = demo_data.arrive_new_rows(dsn)
        assert demo_data.arrive_new_rows(dsn) == {t: 0 for t in arrived}  # idempotent
        for table, frame in demo_data.tables().items():
            assert first[table] + arrived[table] == len(frame) == _count(dsn, table)
    finally:
        data_dir = pg.dir
        pg.stop()
    assert not data_dir.exists()


def test_dsn_names_loopback_and_the_warehouse(stack):
    assert stack.dsn.startswith("postgresql://mmeops:")
    assert stack.dsn.endswith("/warehouse")
    assert "@127.0.0.1:" in stack.dsn
    assert os.environ["MMEOPS_WAREHOUSE_DSN"] == stack.dsn


def test_each_environment_bucket_lives_in_its_own_account(stack):
    repo = load_repo(stack.repo_root)
    buckets = {e.account_id: e.artifact_bucket for e in repo.envs.values()}
    for env in repo.envs.values():
        role = aws.for_account(env.account_id, env.region, env.role_arn)
        assert role.call("sts", "get_caller_identity")["Account"] == env.account_id
        # Probed as the stack's admin there: the deployer may touch only its prefix (IAM).
        acct = stack.admin(env.account_id)
        key = f"probe/{uuid.uuid4().hex}"
        acct.put_bytes(env.artifact_bucket, key, b"hello")
        assert acct.get_bytes(env.artifact_bucket, key)[0] == b"hello"
        versioning = acct.call("s3", "get_bucket_versioning", Bucket=env.artifact_bucket)
        assert versioning["Status"] == "Enabled"
        listed = {b["Name"] for b in acct.call("s3", "list_buckets")["Buckets"]}
        assert listed == {env.artifact_bucket}  # not the other environments' buckets
        assert not listed & (set(buckets.values()) - {env.artifact_bucket})

    t = repo.settings.training
    training = stack.admin(t.account_id)
    assert {b["Name"] for b in training.call("s3", "list_buckets")["Buckets"]} == {
        repo.settings.bucket
    }


def _mmeops(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "mmeops"), "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow  # three CLI processes and a whole second stack
def test_stack_up_env_down_leave_nothing_behind(repo_copy):
    # A clean environment: the background stack must not lean on this session's stack.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MMEOPS_"))}
    up = _mmeops(repo_copy, "stack", "up", env=env)
    assert up.returncode == 0, up.stderr
    state = json.loads((repo_copy / ".mmeops" / "stack.json").read_text())
    try:
        printed = _mmeops(repo_copy, "stack", "env", env=env)
        assert printed.returncode == 0, printed.stderr
        exports = dict(
            shlex.split(line)[1].split("=", 1)
            for line in printed.stdout.splitlines()
            if line.startswith("export ")
        )
        assert exports["AWS_ENDPOINT_URL"] == state["moto_url"]
        assert exports["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == state["mme_url"]
        # From any folder inside the repository, as git finds its .git (issue 17).
        inside = subprocess.run(
            [str(Path(sys.executable).parent / "mmeops"), "stack", "env"],
            cwd=repo_copy / "models" / "breast-cancer",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert (inside.returncode, inside.stdout) == (0, printed.stdout), inside.stderr
        ping = state["mme_url"] + "/ping"
        with urllib.request.urlopen(ping, timeout=5) as r:  # noqa: S310 (the stack's http URL)
            assert r.status == 200
        # One front door per environment (issue 25), each answering for its own environment.
        doors = json.loads((repo_copy / ".mmeops" / "invokers.json").read_text())
        assert sorted(doors) == sorted(p.stem for p in (repo_copy / "environments").glob("*.yaml"))
        for name, door in doors.items():
            url = exports[f"MMEOPS_INVOKER_URL_{name.upper()}"]
            assert url == door["url"]
            with urllib.request.urlopen(url + "/ping", timeout=5) as r:  # noqa: S310
                assert json.loads(r.read()) == {"environment": name}
            # ... under its Lambda's role (infra/invoker.yaml), as the stack issued it.
            said = (repo_copy / ".mmeops" / f"invoker-{name}.log").read_text()
            assert f":assumed-role/mmeops-invoker-{name}-Role/mmeops-invoker-{name}\n" in said
        with psycopg2.connect(exports["MMEOPS_WAREHOUSE_DSN"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM demo.diabetes")
            assert cur.fetchone()[0] > 0
        conn.close()
    finally:
        down = _mmeops(repo_copy, "stack", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert not _running(state["pid"])
    assert not any(_running(door["pid"]) for door in doors.values())
    assert not _running(state["postgres_pid"])
    assert not any(Path(d).exists() for d in state["dirs"])
    assert not (repo_copy / ".mmeops").exists()
