"""Test fixtures: one throwaway PostgreSQL for the run, one database per engine test.

The server is started by this session (as the ``postgres`` OS user when we are root), listens
on a unix socket and a free 127.0.0.1 port, preloads pg_stat_statements, and is stopped at
exit, also when tests fail. The developer's own environment never leaks in: PG* variables,
DATABASE_URL and state dirs are cleared per test.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.pg.cluster import LocalCluster
from nchat_tui.pg.target import Target, resolve_target

REPO = Path(__file__).resolve().parent.parent

# Unique per run: tests that scan every process (or file) for the password must not match
# another test run's processes on a shared machine. The prefix keeps plain searches working.
TEST_PASSWORD = f"test-secret-pw-{secrets.token_hex(6)}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="nchat-test-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = LocalCluster(datadir=base / "data", sockdir=base / "run", password=TEST_PASSWORD)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's machine out of the tests."""
    for k in list(os.environ):
        if k.startswith("PG") or k in ("DATABASE_URL", "BACKUP_DIR", "SSH_CONNECTION", "SSH_TTY",
                                       "TMUX", "STY", "ZELLIJ"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)


def _dbname(node_name: str) -> str:
    safe = re.sub(r"[^a-z0-9_]", "_", node_name.lower())[:40]
    return f"t_{safe}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def pg_db(pg_cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh, empty database for this test; yields TCP conninfo params (with password)."""
    name = _dbname(request.node.name)
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_cluster.tcp_conninfo(name)
    finally:
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_conn(pg_db: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as conn:
        yield conn


@pytest.fixture
def target(pg_db: dict[str, str], tmp_path: Path) -> Target:
    """A Target for this test's database, with its own backup and state dirs."""
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    return resolve_target(dsn=dsn, backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                          environ={})


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a disk that fills up (skips where mounting is not allowed)."""
    mnt = tmp_path / "tinydisk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
