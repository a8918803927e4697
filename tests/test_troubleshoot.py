"""The troubleshooting trees against a real PostgreSQL: each case set up, then found."""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.cli import troubleshoot as cmd_troubleshoot
from nchat_tui.cli.main import CliContext
from nchat_tui.errors import BadInput, Refused
from nchat_tui.monitor.troubleshoot import (
    CheckContext,
    Finding,
    context,
    normalize_snapshot,
    run_check,
    run_fix,
    walk,
)
from nchat_tui.pg.cluster import free_port
from nchat_tui.pg.target import Target, resolve_target
from nchat_tui.state.journal import Journal


def _target(params: dict[str, str], tmp_path: Path) -> Target:
    dsn = " ".join(f"{k}={v}" for k, v in params.items())
    return resolve_target(dsn=dsn, backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                          environ={})


def _by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def _eventually(fn: Callable[[], Finding], status: str, timeout: float = 15.0) -> Finding:
    """Statistics reach the views a moment after a transaction ends: poll the check."""
    deadline = time.monotonic() + timeout
    f = fn()
    while f.status != status and time.monotonic() < deadline:
        time.sleep(0.2)
        f = fn()
    return f


@pytest.fixture
def role(pg_conn: psycopg.Connection[Any]) -> Iterator[str]:
    name = f"ts_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'rolepw'")
    try:
        yield name
    finally:
        pg_conn.execute(f"DROP OWNED BY {name}")
        pg_conn.execute(f"DROP ROLE {name}")


# -- connection -------------------------------------------------------------------------------
class TestConnection:
    def test_refused_port(self, pg_db: dict[str, str], tmp_path: Path) -> None:
        t = _target({**pg_db, "port": str(free_port())}, tmp_path)
        with context(t) as ctx:
            fs = _by_check(walk("connection", ctx))
        assert fs["pg_isready"].status == "problem"
        assert fs["dns"].status == "ok"
        assert fs["port"].status == "problem" and "refused" in fs["port"].summary
        assert "login" not in fs

    def test_unknown_host(self, pg_db: dict[str, str], tmp_path: Path) -> None:
        t = _target({**pg_db, "host": "no-such-host.invalid"}, tmp_path)
        with context(t) as ctx:
            fs = _by_check(walk("connection", ctx))
        assert fs["dns"].status == "problem" and "does not resolve" in fs["dns"].summary
        assert "port" not in fs

    def test_wrong_password_and_missing_database(self, pg_db: dict[str, str],
                                                 tmp_path: Path) -> None:
        t = _target({**pg_db, "password": "Bad-Secret-77"}, tmp_path)
        with context(t) as ctx:
            fs = _by_check(walk("connection", ctx))
        assert fs["pg_isready"].status == "ok"
        assert fs["login"].status == "problem"
        assert fs["login"].evidence["cause"] == "wrong_password"
        assert "Bad-Secret-77" not in json.dumps(fs["login"].as_dict())
        t = _target({**pg_db, "dbname": "no_such_db"}, tmp_path)
        with context(t) as ctx:
            fs = _by_check(walk("connection", ctx))
        assert fs["login"].evidence["cause"] == "missing_database"

    def test_healthy(self, target: Target) -> None:
        with context(target) as ctx:
            fs = _by_check(walk("connection", ctx))
        assert [f.status for f in fs.values()] == ["ok", "ok", "ok"]
        assert fs["connection_slots"].evidence["max_connections"] == 100


# -- missing data -----------------------------------------------------------------------------
@pytest.fixture
def chat_db(pg_conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    pg_conn.execute("CREATE TABLE nchat_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
                    "name text, deleted_at timestamptz)")
    pg_conn.execute("CREATE TABLE nchat_messages (id bigint PRIMARY KEY, user_id uuid "
                    "REFERENCES nchat_users(id), body text, is_deleted boolean NOT NULL "
                    "DEFAULT false, deleted_at timestamptz)")
    pg_conn.execute("INSERT INTO nchat_users (name) SELECT 'u' || g FROM generate_series(1, 5) g")
    pg_conn.execute("INSERT INTO nchat_messages (id, user_id, body) SELECT g, "
                    "(SELECT id FROM nchat_users LIMIT 1), 'hello' FROM generate_series(1, 7) g")
    return pg_conn


class TestMissingData:
    def test_counts_soft_deletes_rls_and_idle_writer(
            self, pg_db: dict[str, str], chat_db: psycopg.Connection[Any], target: Target,
            role: str, tmp_path: Path) -> None:
        chat_db.execute("UPDATE nchat_messages SET is_deleted = true, deleted_at = now() "
                        "WHERE id <= 2")
        before = normalize_snapshot({"tables": [
            {"schema": "public", "name": "nchat_messages", "rows": 10},
            {"schema": "public", "name": "nchat_users", "rows": 5},
            {"schema": "public", "name": "nchat_reactions", "rows": 3}]})
        writer = psycopg.connect(make_conninfo(**pg_db), application_name="chat-api")
        writer.execute("INSERT INTO nchat_messages (id, body) VALUES (100, 'pending')")
        try:
            with context(target, before=before) as ctx:
                fs = _by_check(walk("missing-data", ctx))
        finally:
            writer.rollback()
            writer.close()
        counts = fs["row_counts"]
        assert counts.status == "problem"
        assert "1 table(s) gone (public.nchat_reactions)" in counts.summary
        assert "public.nchat_messages" in counts.summary
        gone = {d["table"]: d for d in counts.evidence["tables"]}
        assert gone["public.nchat_messages"] == {"table": "public.nchat_messages", "before": 10,
                                                 "now": 7, "diff": -3}
        soft = fs["soft_deleted"]
        assert soft.status == "problem"
        assert {(x["table"], x["column"], x["deleted"]) for x in soft.evidence} == {
            ("public.nchat_messages", "is_deleted", 2), ("public.nchat_messages", "deleted_at", 2)}
        assert fs["rls"].status == "ok"
        idle = fs["idle_writers"]
        assert idle.status == "problem"
        assert idle.evidence[0]["application"] == "chat-api"
        assert idle.evidence[0]["written_tables"] == ["nchat_messages"]
        assert fs["restore_option"].status == "warning"

        # the same database seen by a role that row-level security filters
        chat_db.execute("ALTER TABLE nchat_messages ENABLE ROW LEVEL SECURITY")
        chat_db.execute("CREATE POLICY own ON nchat_messages USING (body = 'none')")
        chat_db.execute(f"GRANT SELECT ON nchat_messages, nchat_users TO {role}")
        other = _target({**pg_db, "user": role, "password": "rolepw"}, tmp_path)
        with context(other, before=before) as ctx:
            fs = _by_check(walk("missing-data", ctx))
        rls = fs["rls"]
        assert rls.status == "problem" and role in rls.summary
        assert rls.evidence[0]["table"] == "nchat_messages"
        assert rls.evidence[0]["owner"] == "postgres"
        assert fs["row_counts"].evidence["counted_as"] == role
        assert fs["row_counts"].evidence["sees_all_rows"] is False

    def test_rolled_back_inserts(self, chat_db: psycopg.Connection[Any], target: Target) -> None:
        chat_db.execute("CREATE TABLE nchat_reactions (id int) WITH (autovacuum_enabled = false)")
        with chat_db.transaction(force_rollback=True):
            chat_db.execute("INSERT INTO nchat_reactions SELECT generate_series(1, 1000)")
        chat_db.execute("SELECT pg_stat_force_next_flush()")  # PG15+: no 10 s idle delay
        with context(target) as ctx:
            f = _eventually(lambda: run_check("rollbacks", ctx), "problem")
        assert f.status == "problem"
        assert "public.nchat_reactions" in f.summary and "rolled back" in f.summary

    def test_backups_are_offered(self, target: Target) -> None:
        target.backup_dir.mkdir(parents=True)
        (target.backup_dir / "nchat_20260101_000000.dump").write_bytes(b"x" * 10)
        with context(target) as ctx:
            f = run_check("restore_option", ctx)
        assert f.status == "info" and "nchat_20260101_000000.dump" in f.summary
        assert "NEW database" in (f.action or "")

    def test_snapshot_shapes(self) -> None:
        assert normalize_snapshot({"public.a": 1, "b": 2}) == {"public.a": 1, "public.b": 2}
        assert normalize_snapshot({"tables": {"s.a": {"rows": 4}}}) == {"s.a": 4}
        assert normalize_snapshot({"tables": [{"table": "x", "row_count": 3}]}) == {
            "public.x": 3}
        with pytest.raises(BadInput):
            normalize_snapshot({"tables": []})


# -- slow -------------------------------------------------------------------------------------
class TestSlow:
    def test_planner_and_storage_causes_with_fixes(
            self, pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
        pg_conn.execute("CREATE TABLE nchat_channels (id int PRIMARY KEY)")
        pg_conn.execute("INSERT INTO nchat_channels SELECT generate_series(1, 100)")
        pg_conn.execute("CREATE TABLE nchat_messages (id int, channel_id int REFERENCES "
                        "nchat_channels(id), body text) WITH (autovacuum_enabled = false)")
        pg_conn.execute("INSERT INTO nchat_messages SELECT g, 1 + g % 100, 'b' "
                        "FROM generate_series(1, 5000) g")
        pg_conn.execute("DELETE FROM nchat_messages WHERE id > 1000")
        pg_conn.execute("INSERT INTO nchat_messages VALUES (1, 1, 'dup')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            pg_conn.execute("CREATE UNIQUE INDEX CONCURRENTLY msg_id_uq ON nchat_messages (id)")
        pg_conn.execute("SELECT pg_stat_force_next_flush()")  # PG15+: no 10 s idle delay
        with context(target) as ctx:
            dead = _eventually(lambda: run_check("dead_tuples", ctx), "problem")
            fs = _by_check(walk("slow", ctx))
        assert dead.status == "problem" and "nchat_messages" in dead.summary
        assert fs["locks"].status == "ok"
        na = fs["never_analyzed"]
        assert na.status == "problem" and "nchat_messages" in na.summary
        assert [fx.text() for fx in na.fixes if fx.table == "nchat_messages"] == [
            'ANALYZE "public"."nchat_messages"']
        fk = fs["fk_without_index"]
        assert fk.status == "problem"
        assert fk.evidence[0]["columns"] == ["channel_id"]
        inv = fs["invalid_indexes"]
        assert inv.status == "problem" and inv.evidence[0]["index"] == "msg_id_uq"
        assert inv.fixes[0].text() == 'REINDEX INDEX CONCURRENTLY "public"."msg_id_uq"'

        journal = Journal(tmp_path / "journal.jsonl")
        with pytest.raises(Refused):
            run_fix(target, fk.fixes[0], confirmed=False)
        progress: list[list[dict[str, Any]]] = []
        res = run_fix(target, fk.fixes[0], confirmed=True, journal=journal,
                      on_progress=progress.append, poll_s=0.05)
        assert res["ok"] and "CREATE INDEX CONCURRENTLY" in res["sql"]
        vac = next(fx for fx in fs["dead_tuples"].fixes if fx.table == "nchat_messages")
        run_fix(target, vac, confirmed=True, journal=journal)
        for fx in na.fixes:
            if fx.table != "nchat_messages":  # VACUUM (ANALYZE) covered that one
                run_fix(target, fx, confirmed=True)
        with context(target) as ctx:
            assert run_check("fk_without_index", ctx).status == "ok"
            assert _eventually(lambda: run_check("never_analyzed", ctx), "ok").status == "ok"
            assert _eventually(lambda: run_check("dead_tuples", ctx), "ok").status == "ok"
        events = [r["event"] for r in journal.records()]
        assert events == ["troubleshoot_fix_started", "troubleshoot_fix_finished"] * 2

    def test_lock_queue_and_wait_events(self, pg_db: dict[str, str],
                                        pg_conn: psycopg.Connection[Any],
                                        target: Target) -> None:
        pg_conn.execute("CREATE TABLE nchat_messages (id int)")
        holder = psycopg.connect(make_conninfo(**pg_db), application_name="migration")
        holder.execute("LOCK TABLE nchat_messages IN ACCESS EXCLUSIVE MODE")
        holder_pid = holder.info.backend_pid
        waiter = psycopg.connect(make_conninfo(**pg_db), application_name="chat-app", autocommit=True)
        t = threading.Thread(target=lambda: waiter.execute("SELECT * FROM nchat_messages"),
                             daemon=True)
        t.start()
        try:
            with context(target) as ctx:
                locks = _eventually(lambda: run_check("locks", ctx), "problem")
                waits = run_check("wait_events", ctx)
        finally:
            holder.rollback()
            holder.close()
            t.join(timeout=10)
            waiter.close()
        assert locks.status == "problem"
        assert f"pid {holder_pid} (migration, idle in transaction) blocks 1" in locks.summary
        assert "AccessShareLock on nchat_messages" in locks.summary
        assert waits.status == "problem" and "Lock:relation" in waits.summary

    def test_slow_statement_deltas(self, pg_db: dict[str, str],
                                   pg_conn: psycopg.Connection[Any], target: Target) -> None:
        pg_conn.execute("CREATE EXTENSION pg_stat_statements")
        stop = threading.Event()

        def load() -> None:
            with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
                while not stop.is_set():
                    c.execute("SELECT pg_sleep(0.15)")

        t = threading.Thread(target=load, daemon=True)
        t.start()
        try:
            with context(target, delta_s=1.5) as ctx:
                f = run_check("slow_statements", ctx)
        finally:
            stop.set()
            t.join(timeout=10)
        assert f.status == "problem", f
        assert "pg_sleep" in f.summary


# -- the five v0.4.0 cases --------------------------------------------------------------------
@pytest.fixture
def v030_db(pg_conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """A v0.3 database whose draft 013 left nchat_identity_keys without keys and orphans."""
    pg_conn.execute("CREATE TABLE nchat_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid())")
    pg_conn.execute("CREATE TABLE nchat_channels (id int PRIMARY KEY)")
    pg_conn.execute("CREATE TABLE nchat_messages (id bigint PRIMARY KEY, body text)")
    pg_conn.execute("INSERT INTO nchat_users DEFAULT VALUES")
    pg_conn.execute("INSERT INTO nchat_messages SELECT g, repeat('x', 500) "
                    "FROM generate_series(1, 2000) g")
    pg_conn.execute("CREATE TABLE nchat_identity_keys (device_id text, user_id uuid)")
    pg_conn.execute("INSERT INTO nchat_identity_keys SELECT 'dev-' || g, id FROM nchat_users, "
                    "generate_series(1, 3) g")
    pg_conn.execute("INSERT INTO nchat_identity_keys VALUES ('dev-1', "
                    "(SELECT id FROM nchat_users LIMIT 1))")
    pg_conn.execute("INSERT INTO nchat_identity_keys VALUES ('dev-9', gen_random_uuid()), "
                    "('dev-10', gen_random_uuid())")
    pg_conn.execute("ANALYZE")
    return pg_conn


class TestV040:
    def test_orphans_and_duplicates(self, v030_db: psycopg.Connection[Any],
                                    target: Target) -> None:
        with context(target) as ctx:
            fs = _by_check(walk("v040", ctx))
        orphans = fs["orphaned_identity_keys"]
        assert orphans.status == "problem" and orphans.evidence["orphans"] == 2
        assert "DELETE FROM public.nchat_identity_keys" in (orphans.action_sql or "")
        dups = fs["duplicate_device_ids"]
        assert dups.status == "problem"
        assert dups.evidence["duplicate_device_ids"] == [{"device_id": "dev-1", "copies": 2}]

    def test_several_active_prekeys_break_the_unique_index(
            self, v030_db: psycopg.Connection[Any], target: Target) -> None:
        v030_db.execute("DELETE FROM nchat_identity_keys WHERE device_id = 'dev-1'")
        v030_db.execute("CREATE TABLE nchat_signed_prekeys (device_id text, is_active boolean, "
                        "rotation_date timestamptz DEFAULT now())")
        v030_db.execute("INSERT INTO nchat_signed_prekeys VALUES ('dev-2', true), "
                        "('dev-2', true), ('dev-3', true), ('dev-3', false)")
        with context(target) as ctx:
            f = run_check("duplicate_device_ids", ctx)
        assert f.status == "problem" and "several active signed prekeys" in f.summary
        assert f.evidence["devices_with_several_active_prekeys"] == [
            {"device_id": "dev-2", "active_prekeys": 2}]

    def test_disk_space(self, v030_db: psycopg.Connection[Any], target: Target) -> None:
        with context(target) as ctx:
            ok = run_check("disk_space", ctx)
        assert ok.evidence["free_bytes"] > 0 and ok.evidence["data_directory"]
        assert ok.status in ("ok", "problem")  # the real disk of this machine decides
        with context(target, min_free_bytes=ok.evidence["free_bytes"] * 2) as ctx:
            short = run_check("disk_space", ctx)
        assert short.status == "problem" and "needed" in short.summary

    def test_statement_timeout(self, pg_db: dict[str, str], v030_db: psycopg.Connection[Any],
                               target: Target) -> None:
        with context(target) as ctx:
            assert run_check("statement_timeout", ctx).status == "ok"
        v030_db.execute(f'ALTER DATABASE "{pg_db["dbname"]}" SET statement_timeout = \'2s\'')
        with context(target) as ctx:
            f = run_check("statement_timeout", ctx)
        assert f.status == "problem"
        assert f.evidence["statement_timeout_for_new_sessions"] == "2s"
        assert "SET statement_timeout" in (f.action_sql or "")

    def test_permission_denied(self, pg_db: dict[str, str], v030_db: psycopg.Connection[Any],
                               role: str, tmp_path: Path) -> None:
        v030_db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        t = _target({**pg_db, "user": role, "password": "rolepw"}, tmp_path)
        with context(t) as ctx:
            f = run_check("permissions", ctx)
        assert f.status == "problem"
        assert "CREATE on schema public" in f.summary
        assert "ownership of public.nchat_messages (owner postgres)" in f.summary
        assert "REFERENCES on public.nchat_users" in f.summary
        assert "postgres" in (f.action or "")

    def test_cli_json(self, v030_db: psycopg.Connection[Any], target: Target) -> None:
        lines: list[str] = []
        args = argparse.Namespace(tree="v040", json=True, before=None, min_free_mb=None)
        ctx = CliContext(args, out=lines.append, err=lines.append, _target=target)
        rc = cmd_troubleshoot.run(args, ctx)
        assert rc == 1
        out = json.loads("\n".join(lines))
        statuses = {f["check"]: f["status"] for f in out["trees"]["v040"]}
        assert statuses["orphaned_identity_keys"] == "problem"
        assert statuses["permissions"] == "ok"


def test_check_context_is_read_only(target: Target, pg_conn: psycopg.Connection[Any]) -> None:
    pg_conn.execute("CREATE TABLE t (x int)")
    ctx = CheckContext(target)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            ctx.conn().execute("INSERT INTO t VALUES (1)")
    finally:
        ctx.close()


# -- the screen -------------------------------------------------------------------------------
def _screen_app(target: Target) -> Any:
    from textual.app import App

    from nchat_tui.screens.troubleshoot import TroubleshootScreen

    class TsApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(TroubleshootScreen(target))

    return TsApp()


async def _settle(pilot: Any) -> None:
    for _ in range(3):  # a walk's worker starts a re-check worker: wait for both
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


class TestScreen:
    async def test_walks_the_v040_tree_to_its_findings(
            self, v030_db: psycopg.Connection[Any], target: Target) -> None:
        async with _screen_app(target).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("down", "down", "down", "enter")
            await _settle(pilot)
            screen = pilot.app.screen
            found = screen.findings["v040"]
            assert found["orphans"].status == "problem"
            assert found["duplicates"].status == "problem"
            assert set(found) == {"orphans", "duplicates", "disk", "timeout", "permissions"}
            assert "2 problem(s) found" in str(screen.query_one("#ts-status").render())
            detail = str(screen.query_one("#ts-detail").render())
            assert "identity key(s) belong to users that no longer exist" in detail

    async def test_connection_tree_stops_where_the_cause_is(
            self, pg_db: dict[str, str], tmp_path: Path) -> None:
        t = _target({**pg_db, "port": str(free_port())}, tmp_path)
        async with _screen_app(t).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("enter")
            await _settle(pilot)
            found = pilot.app.screen.findings["connection"]
            assert list(found) == ["isready", "dns", "port"]
            assert found["port"].status == "problem"

    async def test_fix_after_confirmation_then_recheck(
            self, pg_conn: psycopg.Connection[Any], target: Target) -> None:
        pg_conn.execute("CREATE TABLE nchat_messages (id int) WITH (autovacuum_enabled = false)")
        pg_conn.execute("INSERT INTO nchat_messages SELECT generate_series(1, 500)")
        pg_conn.execute("SELECT pg_stat_force_next_flush()")
        async with _screen_app(target).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("down", "down", "enter")
            await _settle(pilot)
            screen = pilot.app.screen
            assert screen.findings["slow"]["analyze"].status == "problem"
            steps = screen.query_one("#ts-steps")
            steps.highlighted = [s.id for s in screen_trees("slow")].index("analyze")
            await pilot.pause()
            await pilot.press("f")
            await pilot.pause()
            await pilot.press("y")
            await _settle(pilot)
            deadline = time.monotonic() + 15
            while screen.findings["slow"].get("analyze") is None or \
                    screen.findings["slow"]["analyze"].status != "ok":
                assert time.monotonic() < deadline, screen.findings["slow"].get("analyze")
                await pilot.press("r")  # statistics reach the view a moment later
                await _settle(pilot)
        row = pg_conn.execute("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                              "WHERE relname = 'nchat_messages'").fetchone()
        assert row == (True,)


def screen_trees(name: str) -> Any:
    from nchat_tui.monitor.troubleshoot import TREES

    return TREES[name].steps


def test_no_free_connection_slots_is_named(tmp_path: Path) -> None:
    """A server whose non-superuser slots are all taken: pg_isready says yes, login says why."""
    import os
    import shutil
    import tempfile

    from nchat_tui.pg.cluster import LocalCluster

    base = Path(tempfile.mkdtemp(prefix="nchat-test-pg-slots-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = LocalCluster(datadir=base / "data", sockdir=base / "run", password="slots-pw",
                           preload="", extra_conf={"max_connections": "6",
                                                   "superuser_reserved_connections": "3"})
    held: list[psycopg.Connection[Any]] = []
    try:
        cluster.start()
        with psycopg.connect(make_conninfo(**cluster.socket_conninfo()), autocommit=True) as c:
            c.execute("CREATE ROLE app LOGIN PASSWORD 'app-pw'")
        params = {**cluster.tcp_conninfo("postgres"), "user": "app", "password": "app-pw"}
        for _ in range(3):
            held.append(psycopg.connect(make_conninfo(**params)))
        with context(_target(params, tmp_path)) as ctx:
            fs = _by_check(walk("connection", ctx))
        assert fs["pg_isready"].status == "ok"
        assert fs["login"].status == "problem"
        assert fs["login"].evidence["cause"] == "too_many_connections"
        assert "max_connections" in (fs["login"].action or "")
    finally:
        for c in held:
            c.close()
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)
