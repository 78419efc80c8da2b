"""A throwaway PostgreSQL cluster: a temp dir, a free loopback port, a random password.

It listens on 127.0.0.1 only, keeps its unix socket inside its own directory, and requires
scram-sha-256 everywhere, so nothing else on the machine can reach it without the password.
initdb refuses to run as root (CI runs as root), so as root every server binary runs as the
`postgres` user on a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "mmeops"
DATABASE = "warehouse"


def pg_bin() -> Path:
    """Where initdb and pg_ctl live: on PATH, else the newest Debian-style install."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not versions:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make postgres`"
        )
    return Path(versions[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """`start()` → running cluster with database `warehouse`; `stop()` removes every trace."""

    def __init__(self) -> None:
        self.dir: Path | None = None
        self.port = 0
        self._password = secrets.token_urlsafe(24)
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}:{self._password}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (first line of postmaster.pid), while it runs."""
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, TypeError):
            return None

    def _run(self, *args: str) -> None:
        cmd = [str(pg_bin() / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            # initdb/pg_ctl output names paths and settings, never the password (it is
            # passed in a file that is gone by now).
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="mmeops-pg-"))
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = self.dir / "pw"
        pwfile.write_text(self._password + "\n")
        pwfile.chmod(0o600)
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            self._run(
                "initdb", "-D", str(self.dir / "data"), "-U", SUPERUSER,
                f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
                "--no-sync", "--no-instructions",
            )  # fmt: skip
        finally:
            pwfile.unlink()
        for attempt in range(3):
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={self.dir} "
                # Throwaway data: durability only costs time here.
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-D", str(self.dir / "data"),
                    "-l", str(self.dir / "server.log"), "-o", options,
                )  # fmt: skip
                break
            except RuntimeError:
                if attempt == 2:  # the port was taken between probe and bind, thrice
                    raise
        self._create_database()
        return self.dsn

    def _create_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.dsn.rsplit("/", 1)[0] + "/postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            conn.close()

    def stop(self) -> None:
        if self.dir is None:
            return
        if self.pid is not None:
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.dir / "data"))
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
