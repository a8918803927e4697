"""The monitor core and `nchat-tui monitor` against a real PostgreSQL 15.

The central case: while one session holds ACCESS EXCLUSIVE on the largest table and others
queue behind it, a sample answers within 2 s, marks the table locked and shows the waiters
in the blocking tree. Also pg_stat_statements' failure states, the degraded view of a role
without pg_monitor, stale panels after a lost connection, and the guarded actions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.errors import BadInput, Refused
from nchat_tui.monitor.model import LockRow, LockWait, Sample, Session, SlowQueries, StaleInfo
from nchat_tui.monitor.sampler import Monitor, SessionRegistry, build_lock_tree, plan_explain
from nchat_tui.pg.cluster import LocalCluster
from nchat_tui.state.journal import Journal
from tests.monitor_fakes import LOCK_ROWS, SESSIONS

REPO = Path(__file__).resolve().parent.parent


def _dsn(params: dict[str, str], *, with_password: bool = True) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()
                    if with_password or k != "password")


def _wait_until(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _make_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE nchat_messages (id bigint PRIMARY KEY, body text)")
    conn.execute("INSERT INTO nchat_messages SELECT g, repeat('m', 300) "
                 "FROM generate_series(1, 20000) g")
    conn.execute("CREATE TABLE nchat_users (id bigint PRIMARY KEY, name text)")
    conn.execute("INSERT INTO nchat_users SELECT g, 'u' || g FROM generate_series(1, 100) g")
    conn.execute("ANALYZE")


class _Waiter(threading.Thread):
    """A session that runs one statement that will wait for a lock."""

    def __init__(self, conninfo: dict[str, str], query: str, app: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(make_conninfo(**conninfo), application_name=app, autocommit=True)
        self.pid = self.conn.info.backend_pid
        self.query = query
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.conn.execute(self.query)
        except BaseException as exc:  # cancelled at the end of the test
            self.error = exc


def _waiting(conn: psycopg.Connection[Any], pid: int) -> bool:
    row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                       (pid,)).fetchone()
    return bool(row and row[0] == "Lock")


@pytest.fixture
def locked_db(pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    """nchat_messages (the largest table) held in ACCESS EXCLUSIVE, two readers queued."""
    _make_tables(pg_conn)
    holder = psycopg.connect(make_conninfo(**pg_db), application_name="migration-ddl")
    holder.execute("LOCK TABLE nchat_messages IN ACCESS EXCLUSIVE MODE")
    w1 = _Waiter(pg_db, "SELECT count(*) FROM nchat_messages", "chat-app-1")
    w1.start()
    _wait_until(lambda: _waiting(pg_conn, w1.pid))
    w2 = _Waiter(pg_db, "SELECT max(id) FROM nchat_messages", "chat-app-2")
    w2.start()
    _wait_until(lambda: _waiting(pg_conn, w2.pid))
    try:
        yield {"holder": holder.info.backend_pid, "waiters": [w1.pid, w2.pid]}
    finally:
        holder.rollback()
        holder.close()
        for w in (w1, w2):
            w.join(timeout=10)
            w.conn.close()


def test_sample_answers_during_access_exclusive(pg_db: dict[str, str],
                                                locked_db: dict[str, Any]) -> None:
    mon = Monitor(pg_db)
    try:
        s = mon.sample().to_json()
    finally:
        mon.close()
    # no panel waited for the lock: one that had would have hit lock_timeout and be stale
    # (how fast it answers is measured in bench/, not asserted here)
    assert s["stale"] == {}
    big = s["tables"][0]
    assert big["qualified_name"] == "public.nchat_messages"
    assert big["locked"] is True
    assert big["size_source"] == "catalog"
    assert big["total_bytes"] > 1_000_000
    assert big["lock"]["held_by"] == [locked_db["holder"]]
    small = next(t for t in s["tables"] if t["name"] == "nchat_users")
    assert small["locked"] is False and small["size_source"] == "exact"

    locks = s["locks"]
    assert locks["waiting"] == 2
    root = next(n for n in locks["tree"] if n["pid"] == locked_db["holder"])
    assert root["waiting"] is False
    assert "AccessExclusiveLock" in root["held_modes"]
    assert root["application"] == "migration-ddl"
    assert root["queue"] == 2
    kids = {k["pid"]: k for k in root["children"]}
    assert set(kids) == set(locked_db["waiters"])
    for k in kids.values():
        assert k["mode"] == "AccessShareLock"
        assert k["relation"] == "nchat_messages"
        assert k["blocked_by"] == [locked_db["holder"]]
        assert k["wait_s"] is not None and k["wait_s"] >= 0
    assert locks["longest"]["pid"] == locked_db["waiters"][0]


def test_cli_once_json_during_access_exclusive(pg_db: dict[str, str],
                                               locked_db: dict[str, Any]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = pg_db["password"]  # never on the command line
    cmd = [sys.executable, "-m", "nchat_tui", "monitor", "--once", "--json",
           "--dsn", _dsn(pg_db, with_password=False)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["stale"] == {}  # nothing waited for the lock (a wait would be a stale panel)
    assert s["tables"][0]["name"] == "nchat_messages" and s["tables"][0]["locked"] is True
    root = next(n for n in s["locks"]["tree"] if n["pid"] == locked_db["holder"])
    assert root["queue"] == 2
    # issue 12: the table's lock listed no waiter while the tree showed two
    lock = s["tables"][0]["lock"]
    assert lock["held_by"] == [locked_db["holder"]]
    assert lock["waiting"] == sorted(locked_db["waiters"])
    assert pg_db["password"] not in proc.stdout + proc.stderr


def test_ddl_waiting_with_app_queue_behind_it(pg_db: dict[str, str],
                                              pg_conn: psycopg.Connection[Any]) -> None:
    """A reader's open transaction blocks an ALTER TABLE; the app's queries queue behind it."""
    _make_tables(pg_conn)
    reader = psycopg.connect(make_conninfo(**pg_db), application_name="report-job")
    reader.execute("SELECT count(*) FROM nchat_users")  # holds ACCESS SHARE, stays open
    ddl = _Waiter(pg_db, "ALTER TABLE nchat_users ADD COLUMN e2ee boolean", "nself-migrate")
    ddl.start()
    _wait_until(lambda: _waiting(pg_conn, ddl.pid))
    app = _Waiter(pg_db, "SELECT name FROM nchat_users WHERE id = 1", "chat-app")
    app.start()
    _wait_until(lambda: _waiting(pg_conn, app.pid))
    mon = Monitor(pg_db)
    try:
        s = mon.sample().to_json()
        users = next(t for t in s["tables"] if t["name"] == "nchat_users")
        # every session queued on the table waits, the ALTER and the reader behind it
        assert users["locked"] is True
        assert users["lock"]["waiting"] == sorted([ddl.pid, app.pid])
        assert users["size_source"] == "catalog"
        root = next(n for n in s["locks"]["tree"] if n["pid"] == reader.info.backend_pid)
        assert root["held_modes"] == ["AccessShareLock"]
        (ddl_node,) = root["children"]
        assert ddl_node["pid"] == ddl.pid and ddl_node["mode"] == "AccessExclusiveLock"
        assert ddl_node["queue"] == 1
        (app_node,) = ddl_node["children"]
        assert app_node["pid"] == app.pid and app_node["blocked_by"] == [ddl.pid]
        assert root["queue"] == 2
        # a locked table is listed even when it is not among the N largest
        small = Monitor(pg_db, top=1)
        try:
            names = [(t["name"], t["locked"]) for t in small.sample().to_json()["tables"]]
        finally:
            small.close()
        assert names == [("nchat_messages", False), ("nchat_users", True)]
    finally:
        mon.close()
        reader.rollback()
        reader.close()
        for w in (ddl, app):
            w.join(timeout=10)
            w.conn.close()


def test_pg_stat_statements_not_created_then_created(pg_db: dict[str, str],
                                                     pg_conn: psycopg.Connection[Any]) -> None:
    mon = Monitor(pg_db)
    try:
        s = mon.sample().to_json()
        sq = s["slow_queries"]
        assert sq["state"] == "not_created"
        assert "not created" in sq["unavailable"]
        assert sq["fix"].startswith("CREATE EXTENSION pg_stat_statements")

        pg_conn.execute("CREATE EXTENSION pg_stat_statements")
        pg_conn.execute("CREATE TABLE t (x int)")
        for _ in range(3):
            pg_conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        s = mon.sample().to_json()
        sq = s["slow_queries"]
        assert sq["state"] == "ok", sq
        assert sq["columns"]["total"] == "total_exec_time"
        assert sq["columns"]["read_time"] == "blk_read_time"
        assert sq["deltas"] is False
        texts = [q["query"] for q in sq["top_by_total"]]
        assert any("INSERT INTO t" in q for q in texts)

        for _ in range(2):
            pg_conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        s = mon.sample().to_json()
        sq = s["slow_queries"]
        assert sq["deltas"] is True
        ins = next(q for q in sq["top_by_total"] if "INSERT INTO t" in q["query"])
        assert ins["calls"] >= 5
        assert ins["calls_delta"] == 2
        assert ins["total_ms_delta"] is not None and ins["total_ms_delta"] >= 0

        # the statement query is cached between samples; dropping the extension is noticed
        pg_conn.execute("DROP EXTENSION pg_stat_statements")
        assert mon.sample().to_json()["slow_queries"]["state"] == "not_created"
    finally:
        mon.close()


def test_pg_stat_statements_no_privilege(pg_cluster: LocalCluster, pg_db: dict[str, str],
                                         pg_conn: psycopg.Connection[Any]) -> None:
    role = f"mon_{uuid.uuid4().hex[:8]}"
    pg_conn.execute("CREATE EXTENSION pg_stat_statements")
    pg_conn.execute("REVOKE SELECT ON pg_stat_statements FROM PUBLIC")
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'rolepw'")
    try:
        mon = Monitor({**pg_db, "user": role, "password": "rolepw"})
        try:
            sq = mon.sample().to_json()["slow_queries"]
        finally:
            mon.close()
        assert sq["state"] == "no_privilege"
        assert role in sq["unavailable"]
        assert "pg_read_all_stats" in sq["fix"]
    finally:
        pg_conn.execute(f"DROP ROLE {role}")


def test_non_superuser_without_pg_monitor_gets_degraded_view(
        pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]) -> None:
    role = f"mon_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'rolepw'")
    other = psycopg.connect(make_conninfo(**pg_db), application_name="superuser-session")
    other.execute("SELECT 1")  # idle in transaction, owned by postgres
    try:
        mon = Monitor({**pg_db, "user": role, "password": "rolepw"})
        try:
            s = mon.sample().to_json()
        finally:
            mon.close()
        acc = s["access"]
        assert acc["level"] == "degraded"
        assert "pg_monitor" in acc["label"] and acc["fix"] == f"GRANT pg_monitor TO {role};"
        assert s["stale"] == {}
        c = s["connections"]
        assert c["hidden"] >= 1  # the superuser's session: state not visible to us
        hidden = [x for x in c["sessions"] if x["pid"] == other.info.backend_pid]
        assert hidden and hidden[0]["state"] is None
        assert isinstance(s["database_size"], int)
    finally:
        other.rollback()
        other.close()
        pg_conn.execute(f"DROP ROLE {role}")


@pytest.fixture(scope="module")
def unpreloaded_cluster() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="nchat-test-pg-nopreload-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = LocalCluster(datadir=base / "data", sockdir=base / "run",
                           password="other-secret-pw", preload="")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_pg_stat_statements_not_preloaded(unpreloaded_cluster: LocalCluster) -> None:
    params = unpreloaded_cluster.tcp_conninfo("postgres")
    mon = Monitor(params)
    try:
        sq = mon.sample().to_json()["slow_queries"]
        assert sq["state"] == "not_preloaded"
        assert "shared_preload_libraries" in sq["unavailable"]
        assert "restart" in sq["fix"]
        # created but still not loaded: the same state, not "not_created"
        with psycopg.connect(make_conninfo(**params), autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        sq = mon.sample().to_json()["slow_queries"]
        assert sq["state"] == "not_preloaded"
    finally:
        mon.close()


def test_lost_connection_keeps_last_data_marked_stale(pg_db: dict[str, str],
                                                      pg_conn: psycopg.Connection[Any]) -> None:
    _make_tables(pg_conn)
    mon = Monitor(pg_db)
    try:
        first = mon.sample().to_json()
        assert first["stale"] == {}
        pg_conn.execute("SELECT pg_terminate_backend(%s)", (mon.backend_pid,))
        second = mon.sample().to_json()
        assert "database" in second["stale"]
        st = second["stale"]["database"]
        assert st["since"] and st["reason"] and st["has_data"] is True
        # the last good data is still there
        assert second["database_size"] == first["database_size"]
        assert [t["name"] for t in second["tables"]] == [t["name"] for t in first["tables"]]
        third = mon.sample().to_json()
        assert third["stale"] == {}
    finally:
        mon.close()


def test_database_size_is_measured_between_samples_not_inside_them(
        pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]) -> None:
    _make_tables(pg_conn)
    mon = Monitor(pg_db, size_every_s=3600)
    try:
        first = mon.sample().to_json()  # no size known yet: the first sample measures it
        assert isinstance(first["database_size"], int) and first["database_size_at"]
        pg_conn.execute("CREATE TABLE grown AS SELECT g, repeat('x', 500) AS pad "
                        "FROM generate_series(1, 20000) g")
        second = mon.sample().to_json()
        assert (second["database_size"], second["database_size_at"]) == \
            (first["database_size"], first["database_size_at"])
        assert mon.refresh_size() is False  # not due for an hour
        assert mon.refresh_size(force=True) is True
        third = mon.sample().to_json()
        assert third["database_size"] > first["database_size"] + 5 * 1024 ** 2
        assert third["database_size_at"] != first["database_size_at"]
        mon.size_every_s = 0
        assert mon.size_due() and mon.refresh_size() is True

        # A refresh that fails keeps the old size, marks it stale with why, and never raises.
        pg_conn.execute("SELECT pg_terminate_backend(%s)", (mon.backend_pid,))
        assert mon.refresh_size(force=True) is True  # its connection was killed under it
        fourth = mon.sample().to_json()
        assert fourth["database_size"] == third["database_size"]
        assert "database_size" in fourth["stale"], fourth["stale"]
        assert fourth["stale"]["database_size"]["has_data"] is True
        assert mon.refresh_size(force=True) is True
        assert "database_size" not in mon.sample().to_json()["stale"]
    finally:
        mon.close()


def test_cancel_refuses_own_sessions_and_cancels_others(
        pg_db: dict[str, str], tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    registry = SessionRegistry()
    mon = Monitor(pg_db, journal=journal, registry=registry)
    mon.sample()
    migration = psycopg.connect(make_conninfo(**pg_db), autocommit=True)
    registry.add(migration.info.backend_pid, "migration runner")
    victim = _Waiter(pg_db, "SELECT pg_sleep(60)", "slow-report")
    victim.start()
    try:
        assert mon.backend_pid is not None
        with pytest.raises(Refused, match="own sessions"):
            mon.cancel_backend(mon.backend_pid)
        with pytest.raises(Refused, match="migration runner"):
            mon.cancel_backend(migration.info.backend_pid)
        with pytest.raises(Refused, match="does not match"):
            mon.terminate_backend(victim.pid, "12345")
        # the victim runs as postgres, a superuser: a second confirmation is required
        with pytest.raises(Refused, match="superuser"):
            mon.cancel_backend(victim.pid)
        res = mon.cancel_backend(victim.pid, confirm_privileged=True)
        assert res.ok is True and res.application == "slow-report"
        victim.join(timeout=10)
        assert isinstance(victim.error, psycopg.errors.QueryCanceled)
    finally:
        victim.conn.close()
        migration.close()
        mon.close()
    events = [r["event"] for r in journal.records()]
    assert events.count("monitor_action_refused") == 4
    assert events.count("monitor_action") == 1


def test_explain_is_safe(pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]) -> None:
    _make_tables(pg_conn)
    mon = Monitor(pg_db)
    try:
        res = mon.explain("SELECT count(*) FROM nchat_users WHERE id < 50", analyze=True)
        assert res.mode == "analyze" and res.rolled_back is True
        assert any("actual time" in line for line in res.plan)
        plain = mon.explain("DELETE FROM nchat_users")
        assert plain.mode == "plan"
        with pytest.raises(Refused):
            mon.explain("DELETE FROM nchat_users", analyze=True)
        with pytest.raises(Refused, match="PostgreSQL 16"):
            mon.explain("SELECT * FROM nchat_users WHERE id = $1")
        with pytest.raises(BadInput):
            mon.explain("SELECT 1; DROP TABLE nchat_users")
    finally:
        mon.close()
    assert pg_conn.execute("SELECT count(*) FROM nchat_users").fetchone() == (100,)


def test_plan_explain_rules() -> None:
    assert plan_explain("select * from t where a = $1", analyze=False,
                        server_version_num=160000)[0] == "generic_plan"
    with pytest.raises(Refused):
        plan_explain("with x as (delete from t returning *) select * from x", analyze=True,
                     server_version_num=160000)
    with pytest.raises(Refused):
        plan_explain("select * from t for update", analyze=True, server_version_num=150000)
    assert plan_explain("select 1 union select 2", analyze=True,
                        server_version_num=150000)[0] == "analyze"


def test_lock_tree_breaks_cycles_and_counts_queues() -> None:
    rows = [
        {"pid": 2, "blocked_by": [1], "mode": "AccessExclusiveLock", "relation": "t",
         "locktype": "relation", "wait_s": 5.0, "blocker_modes": {"1": ["AccessShareLock"]}},
        {"pid": 3, "blocked_by": [1, 2], "mode": "AccessShareLock", "relation": "t",
         "locktype": "relation", "wait_s": 4.0, "blocker_modes": {}},
        {"pid": 4, "blocked_by": [5], "mode": "ShareLock", "relation": None,
         "locktype": "transactionid", "wait_s": 1.0, "blocker_modes": {}},
        {"pid": 5, "blocked_by": [4], "mode": "ShareLock", "relation": None,
         "locktype": "transactionid", "wait_s": 1.0, "blocker_modes": {}},
    ]
    tree = build_lock_tree(rows, []).to_json()
    roots = {n["pid"]: n for n in tree["tree"]}
    assert roots[1]["queue"] == 2 and roots[1]["children"][0]["pid"] == 2
    assert roots[1]["children"][0]["children"][0]["pid"] == 3
    assert roots[1]["held_modes"] == ["AccessShareLock"]
    assert len(tree["rows"]) == 5
    assert tree["longest_wait_s"] == 5.0


def test_progress_of_an_index_build_waiting_for_a_writer(
        pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]) -> None:
    """CREATE INDEX CONCURRENTLY waits for an open writer: progress and the lock tree show it."""
    _make_tables(pg_conn)
    writer = psycopg.connect(make_conninfo(**pg_db), application_name="chat-api")
    writer.execute("INSERT INTO nchat_users VALUES (1000, 'late')")  # open write transaction
    build = _Waiter(pg_db, "CREATE INDEX CONCURRENTLY users_name_idx ON nchat_users (name)",
                    "nchat-tui migrate")
    build.start()
    _wait_until(lambda: _waiting(pg_conn, build.pid))
    mon = Monitor(pg_db)
    try:
        s = mon.sample().to_json()
        (p,) = [p for p in s["progress"] if p["pid"] == build.pid]
        assert p["kind"] == "create_index"
        assert p["phase"].startswith("waiting for writers before build")
        assert p["relation"] in ("users_name_idx", "nchat_users")
        root = next(n for n in s["locks"]["tree"] if n["pid"] == writer.info.backend_pid)
        (child,) = root["children"]
        assert child["pid"] == build.pid and child["locktype"] == "virtualxid"
        assert mon.progress(build.pid)[0].kind == "create_index"
    finally:
        mon.close()
        writer.commit()
        writer.close()
        build.join(timeout=10)
        build.conn.close()
    assert build.error is None


def test_replication_slots_show_retained_wal(pg_db: dict[str, str],
                                             pg_conn: psycopg.Connection[Any]) -> None:
    slot = f"mon_{uuid.uuid4().hex[:8]}"
    pg_conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
    try:
        pg_conn.execute("CREATE TABLE w AS SELECT generate_series(1, 20000) g")  # some WAL
        mon = Monitor(pg_db)
        try:
            rep = mon.sample().to_json()["replication"]
        finally:
            mon.close()
        assert rep["in_recovery"] is False and rep["replicas"] == []
        (s,) = [x for x in rep["slots"] if x["slot"] == slot]
        assert s["active"] is False and s["retained_bytes"] > 0
    finally:
        pg_conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def test_refuses_any_nchat_tui_session_even_from_another_process(pg_db):
    """pg_dump/pg_restore children and other nchat-tui processes are not in the registry."""
    import psycopg as _pg

    from nchat_tui.errors import Refused as _Refused
    from nchat_tui.monitor.sampler import Monitor as _Monitor

    other = _pg.connect(**pg_db, application_name="nchat-tui", autocommit=True)
    try:
        m = _Monitor(dict(pg_db))
        with pytest.raises(_Refused, match="own sessions"):
            m.cancel_backend(other.info.backend_pid, confirm_privileged=True)
        m.close()
    finally:
        other.close()


def test_text_output_says_a_lost_connection_once() -> None:
    from nchat_tui.cli.monitor import render_text

    why = "no connection: connection refused by postgres@127.0.0.1:1/nchat"
    never = replace(Sample.nothing(why), stale={
        n: StaleInfo(since="t0", reason=why, last_ok=None, has_data=False)
        for n in ("database", "connections", "locks", "tables")})
    lines = render_text(never)
    assert [ln for ln in lines if "refused" in ln] == [f"  ERROR {why}"]
    assert lines[-1] == "  nothing sampled yet: every panel needs the connection above"

    lost = replace(Sample.nothing(why), database_size=1024, slow_queries=SlowQueries(
        unavailable="no sample yet", state="no_data", fix=None),
        stale={n: StaleInfo(since="t1", reason=why, last_ok=None, has_data=True)
               for n in ("database", "connections", "locks")})
    lines = render_text(lost)
    assert f"  STALE database, connections, locks since t1: {why}" in lines
    assert sum("STALE" in ln for ln in lines) == 1
    assert "slow queries: unavailable (no_data): no sample yet" in lines  # no "fix: None"


# -- issue 12: the whole server, names in other databases, host figures, monitoring queries --
@pytest.fixture
def other_db(pg_cluster: LocalCluster) -> Iterator[dict[str, str]]:
    """A second database on the same server, with a table and a role that may not enter it."""
    name = f"t_other_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = pg_cluster.tcp_conninfo(name)
    with psycopg.connect(make_conninfo(**params), autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger_rows (id int PRIMARY KEY)")
        conn.execute("INSERT INTO ledger_rows VALUES (1)")
    try:
        yield params
    finally:
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_whole_server_sessions_tps_waits_and_lock_names_in_other_databases(
        pg_cluster: LocalCluster, pg_db: dict[str, str], other_db: dict[str, str]) -> None:
    """Busy sessions and a lock wait in another database show, named, from this one."""
    other = other_db["dbname"]
    holder = psycopg.connect(make_conninfo(**other_db), application_name="other-holder")
    holder.execute("LOCK TABLE ledger_rows IN ACCESS EXCLUSIVE MODE")
    waiter = _Waiter(other_db, "SELECT count(*) FROM ledger_rows", "other-reader")
    waiter.start()
    try:
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as probe:
            _wait_until(lambda: _waiting(probe, waiter.pid))
        mon = Monitor(pg_db)
        try:
            mon.sample()
            with psycopg.connect(make_conninfo(**other_db), autocommit=True) as busy:
                for _ in range(25):
                    busy.execute("SELECT 1")
            s = mon.sample().to_json()
        finally:
            mon.close()
        c = s["connections"]
        pids = {x["pid"]: x for x in c["sessions"]}
        assert pids[waiter.pid]["database"] == other
        assert c["by_database"][other] >= 2 and c["total"] > c["this_database"]
        assert c["waits"].get("Lock", 0) >= 1
        (entry,) = [d for d in s["databases"] if d["name"] == other]
        assert entry["lock_waits"] == 1 and entry["sessions"] >= 2 and not entry["current"]
        assert s["tps_by_database"][other] > 0
        assert s["tps"] >= s["tps_by_database"][other]
        (row,) = [r for r in s["locks"]["rows"] if r["pid"] == waiter.pid]
        assert row["relation"] == f"ledger_rows (database {other})"  # was: "oid 16412"
        assert row["database"] == other

        # a role that may not enter the other database: the database is named instead
        role = f"mon_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'rolepw' IN ROLE pg_monitor")
            admin.execute(f'REVOKE CONNECT ON DATABASE "{other}" FROM PUBLIC')
        try:
            limited = Monitor({**pg_db, "user": role, "password": "rolepw"})
            try:
                s2 = limited.sample().to_json()
            finally:
                limited.close()
            (row2,) = [r for r in s2["locks"]["rows"] if r["pid"] == waiter.pid]
            assert row2["relation"].endswith(f"in database {other}")
            assert row2["relation"].startswith("relation ")
        finally:
            with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as admin:
                admin.execute(f"DROP ROLE {role}")
    finally:
        holder.rollback()
        holder.close()
        waiter.join(timeout=10)
        waiter.conn.close()


def test_row_lock_wait_reads_in_words(pg_db: dict[str, str],
                                      pg_conn: psycopg.Connection[Any]) -> None:
    """A writer waiting on another's row: no 'wants None', no 'holds holds'."""
    from nchat_tui.cli.monitor import render_text
    from nchat_tui.monitor.sampler import lock_held_text, lock_wait_text

    _make_tables(pg_conn)
    first = psycopg.connect(make_conninfo(**pg_db), application_name="first-writer")
    first.execute("UPDATE nchat_users SET name = 'x' WHERE id = 1")
    second = _Waiter(pg_db, "UPDATE nchat_users SET name = 'y' WHERE id = 1", "second-writer")
    second.start()
    try:
        _wait_until(lambda: _waiting(pg_conn, second.pid))
        mon = Monitor(pg_db)
        try:
            s = mon.sample()
        finally:
            mon.close()
        rows = {r.pid: r for r in s.locks.rows}
        waiter, holder = rows[second.pid], rows[first.info.backend_pid]
        assert waiter.locktype == "transactionid"
        assert lock_wait_text(waiter) == "waits for another transaction to end (a row it changed)"
        assert holder.held_modes == ["ExclusiveLock"]
        assert lock_held_text(holder) == "holds Exclusive"
        text = "\n".join(render_text(s))
        for bad in ("None", "holds holds", "holds ?"):
            assert bad not in text
    finally:
        first.rollback()
        first.close()
        second.join(timeout=10)
        second.conn.close()


def test_lock_texts_never_say_none_or_holds_holds() -> None:
    from nchat_tui.monitor.sampler import lock_held_text, lock_wait_text

    # what locks.sql reports for a relation extension wait (outside pg_locks since PG13),
    # and for a blocker whose granted locks were not visible (a parallel leader, a race)
    def wait(**kw: Any) -> LockWait:
        return LockWait(**{"pid": 1, "wait_s": None, "mode": None, "relation": None,
                           "locktype": None, "wait_event": None, "blocked_by": [], **kw})

    def blocker(held_modes: list[str]) -> LockRow:
        return LockRow.from_json({**LOCK_ROWS[0], "held_modes": held_modes})

    assert lock_wait_text(wait(mode=None, locktype="extend", relation=None,
                               wait_event="extend")) == "waits to extend a relation"
    assert lock_wait_text(wait(mode=None, locktype=None, wait_event="tuple")) == \
        "waits for a lock (tuple)"
    assert lock_wait_text(wait(mode="RowExclusiveLock", locktype="relation",
                               relation="nchat_messages")) == "wants RowExclusive on nchat_messages"
    assert lock_held_text(blocker([])) == "blocks (what it holds is not visible)"
    assert lock_held_text(blocker(["AccessExclusiveLock", "ShareLock"])) == \
        "holds AccessExclusive, Share"


class _Forwarder(threading.Thread):
    """A TCP port on 127.0.0.1 that forwards to the server, as ssh -L or docker do."""

    def __init__(self, port: int) -> None:
        import socket

        super().__init__(daemon=True)
        self.target = port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: Any, b: Any) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


def test_host_figures_on_the_database_host_only(pg_cluster: LocalCluster,
                                                pg_db: dict[str, str]) -> None:
    """The test server runs here: per-backend CPU/memory and a system line. Through a port
    forward (a loopback address, but not our backend's connection) and on a remote host
    address they are hidden, with why."""
    from nchat_tui.monitor.hoststats import _loopback

    sleeper = _Waiter(pg_db, "SELECT pg_sleep(30)", "sleeper")
    sleeper.start()
    try:
        for params in (pg_db, {**pg_db, "host": str(pg_cluster.sockdir)}):
            mon = Monitor(params)
            try:
                mon.sample()
                s = mon.sample().to_json()
            finally:
                mon.close()
            assert s["host"]["local"] is True, s["host"]
            sysline = s["host"]["system"]
            assert len(sysline["load"]) == 3 and sysline["mem_total"] > 0
            me = next(x for x in s["connections"]["sessions"] if x["pid"] == sleeper.pid)
            assert me["rss_bytes"] and me["rss_bytes"] > 0
            assert me["cpu_pct"] is not None and me["cpu_pct"] >= 0

        fwd = _Forwarder(int(pg_db["port"]))
        fwd.start()
        try:
            mon = Monitor({**pg_db, "port": str(fwd.port)})
            try:
                s = mon.sample().to_json()
            finally:
                mon.close()
        finally:
            fwd.sock.close()
        assert s["host"]["local"] is False
        assert "does not serve this connection" in s["host"]["reason"]
        assert all(x["cpu_pct"] is None and x["rss_bytes"] is None
                   for x in s["connections"]["sessions"])
        assert "system" not in s["host"]
        assert _loopback("db.internal", None)[0] is False
        assert _loopback("10.0.0.5", "10.0.0.5")[0] is False
        assert _loopback("localhost", "::1")[0] is True
    finally:
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
            c.execute("SELECT pg_cancel_backend(%s)", (sleeper.pid,))
        sleeper.join(timeout=10)
        sleeper.conn.close()


def test_backend_figures_read_from_proc_equal_psutils(pg_db: dict[str, str]) -> None:
    """The per-backend figures are read straight from /proc (a third of psutil's reads):
    a busy backend's CPU %, its RSS and its IO counters agree with psutil's, a pid that ended
    shows nothing, and a process name with spaces and parentheses does not shift the fields."""
    import psutil

    from nchat_tui.monitor import hoststats
    from nchat_tui.monitor.hoststats import HostStats, parse_proc_stat

    if not hoststats._PROC_STAT:
        pytest.skip("no /proc here: psutil is used")
    busy = _Waiter(pg_db, "SELECT count(*) FROM generate_series(1, 400000000)", "busy")
    busy.start()
    try:
        stats = HostStats()
        stats.local = True
        proc = psutil.Process(busy.pid)
        proc.cpu_percent(None)
        first = stats.backends([busy.pid])[busy.pid]
        assert first.cpu_pct is None  # no interval yet, as psutil
        time.sleep(1.0)
        ours = stats.backends([busy.pid])[busy.pid]
        theirs = proc.cpu_percent(None)
        assert ours.cpu_pct is not None and theirs > 40
        assert abs(ours.cpu_pct - theirs) < 15, (ours.cpu_pct, theirs)
        rss = proc.memory_info().rss
        assert ours.rss_bytes is not None and abs(ours.rss_bytes - rss) <= 1 << 20
        assert ours.read_bps is not None and ours.write_bps is not None
        io = proc.io_counters()
        assert hoststats._proc_io(busy.pid) is not None
        got = hoststats._proc_io(busy.pid)
        assert got is not None and got[0] >= io.read_bytes and got[1] >= io.write_bytes
    finally:
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
            c.execute("SELECT pg_cancel_backend(%s)", (busy.pid,))
        busy.join(timeout=10)
        busy.conn.close()
    # the backend is gone with its connection: no figures, and it is forgotten
    pid = busy.pid
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats.backends([pid]) == {}
    assert pid not in stats._stat
    line = (b"4242 (post gres) (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
            b"37 5 0 0 20 0 1 0 987654 123456789 2048 18446744073709551615")
    assert parse_proc_stat(line) == (987654, 42, 2048)
    assert parse_proc_stat(b"4242 (cut") is None


def test_the_system_line_read_from_proc_equals_psutils() -> None:
    import psutil

    from nchat_tui.monitor import hoststats

    if not hoststats._PROC_STAT:
        pytest.skip("no /proc here: psutil is used")
    vm = psutil.virtual_memory()
    mem = hoststats._proc_meminfo()
    assert mem is not None and mem[0] == vm.total
    assert abs(mem[1] - vm.available) < 64 << 20
    before = psutil.disk_io_counters()
    ours = hoststats._proc_disk_bytes()
    after = psutil.disk_io_counters()
    assert ours is not None and before is not None and after is not None
    assert before.read_bytes <= ours[0] <= after.read_bytes
    assert before.write_bytes <= ours[1] <= after.write_bytes
    stats = hoststats.HostStats()
    stats.local = True
    line = stats.system()
    assert line is not None and line.mem_total == vm.total
    assert abs(line.mem_used_pct - vm.percent) < 2


def test_monitoring_queries_are_kept_out_of_slow_queries(
        pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]) -> None:
    _make_tables(pg_conn)
    pg_conn.execute("CREATE EXTENSION pg_stat_statements")
    mon = Monitor(pg_db)
    try:
        mon.sample()
        for _ in range(5):
            # what pg_activity, PgHero and our own monitor run, and an application query
            pg_conn.execute("-- Get data from pg_activity since pg 13\nSELECT a.pid AS pid, "
                            "a.application_name FROM pg_stat_activity a WHERE a.state <> 'idle'")
            pg_conn.execute("SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')")
            pg_conn.execute("/* reports.sql: weekly report */ SELECT count(*) FROM nchat_users "
                            "u JOIN nchat_messages m ON m.id = u.id")
        s = mon.sample().to_json()
    finally:
        mon.close()
    sq = s["slow_queries"]
    mine = [q["query"] for q in sq["statements"]]
    assert any(q.startswith("SELECT count(*) FROM nchat_users") for q in mine)  # no comment
    report = next(q for q in sq["statements"]
                  if q["query"].startswith("SELECT count(*) FROM nchat_users u JOIN"))
    assert report["comment"] == "reports.sql: weekly report" and not report["monitoring"]
    for rows in (sq["statements"], sq["top_by_total"], sq["top_by_mean"]):
        assert not any("pg_stat_activity" in q["query"] or "pg_class" in q["query"]
                       for q in rows), rows
    theirs = {q.get("source") for q in sq["monitoring"]}
    assert "pg_activity" in theirs
    assert any(q["query"].startswith("SELECT relname, pg_total_relation_size")
               for q in sq["monitoring"])
    assert any((q.get("source") or "").startswith("nchat-tui ") for q in sq["monitoring"])


def test_describe_recognises_monitoring_statements() -> None:
    from nchat_tui.monitor.querytext import describe

    assert describe("-- activity.sql: every client backend\nSELECT 1").source == \
        "nchat-tui activity.sql"
    assert describe("SELECT datname, numbackends FROM pg_stat_database").monitoring
    assert describe("with x as (select * from pg_locks) select count(*) from x").monitoring
    assert describe("SELECT pg_database_size($1)").monitoring
    assert not describe("SELECT * FROM nchat_messages WHERE id = $1").monitoring
    assert not describe("UPDATE pg_temp_x SET a = 1").monitoring  # a write is never ours
    assert not describe("SELECT * FROM pg_class c JOIN users u ON true").monitoring
    assert not describe("SELECT $1").monitoring
    assert not describe("SELECT pg_sleep($1)").monitoring  # waits: an application's
    assert not describe("SELECT pg_advisory_lock($1) FROM pg_stat_activity").monitoring
    cut = describe("-- =====\n-- Migration 013: E2EE system\n-- Creates the key tab")
    assert cut.body == "" and cut.comment == "Migration 013: E2EE system"
    block = describe("/* pghero */ SELECT query FROM pg_stat_activity")
    assert block.monitoring and block.source == "PgHero" and block.body.startswith("SELECT")


def test_monitoring_sample_is_a_monitor_brief_read() -> None:
    """A session left out of Sessions as another monitor's sample: only a named monitor's (or
    one of our monitor queries') short read that waits for no lock."""
    import re

    from nchat_tui.monitor.querytext import describe, monitor_session, monitoring_sample
    from nchat_tui.pg.queries import SQL_DIR

    pga = ("WITH dbinfo AS(\n  SELECT COALESCE(SUM(sd.xact_commit + sd.xact_rollback), 0) "
           "AS xact_count FROM pg_database d INNER JOIN pg_stat_database sd ON d.oid = sd.d")
    ours = ("-- activity.sql: every client backend of the server, one row each, for the "
            "connections panel.\n-- Returns pid, database, user, application, cli")

    def brief(app: str | None, q: str, state: str = "active", age: float | None = 0.05,
              wait: str | None = None) -> bool:
        return monitoring_sample(app, q, state, age, wait)

    assert brief("pg_activity", pga)  # cut by pg_stat_activity: its start is a read
    assert brief("pg_activity", "SELECT count(*) AS wal_senders FROM pg_stat_replication")
    assert brief("PgHero", "/* pghero */ SELECT * FROM pg_stat_activity", age=-0.00002)
    assert brief("nchat-tui monitor", ours) and brief(None, ours)  # another nchat-tui's
    locks = (SQL_DIR / "monitor" / "locks.sql").read_text().split("\n", 1)[0]
    assert brief("psql", locks + "\n-- and more")
    # one of our SQL files that is not a monitor query: an action, never a sample
    assert not brief("nchat-tui", "-- drop_database.sql: drops the database")
    # a script of someone's that happens to be called locks.sql, and writes
    assert not brief("psql", "-- locks.sql: release them\nUPDATE jobs SET locked = false")
    assert not brief("pgbench", "SELECT abalance FROM pgbench_accounts WHERE aid = 1")
    assert not brief("hasura", "SELECT * FROM pg_stat_activity")  # not a named monitor
    assert not brief("pg_activity", pga, age=6.0)  # stuck: news
    assert not brief("pg_activity", pga, age=None)
    assert not brief("pg_activity", pga, wait="Lock")  # waits for a lock: news
    assert not brief("pg_activity", pga, state="idle in transaction")
    assert not brief("pg_activity", "SELECT pg_sleep(10)")
    assert not brief("pg_activity", "SELECT pg_terminate_backend(42)")
    assert not brief("pg_activity", "SELECT * FROM pg_class FOR UPDATE")
    assert not brief("pgwatch2", "UPDATE t SET a = 1")
    assert not brief("pg_activity", "VACUUM pg_class")
    assert monitor_session("pg_activity", "COMMIT") and monitor_session("x", ours)
    assert not monitor_session("pgbench", "-- notes.sql: a script of someone's")
    # every monitor query is a read of the statistics: its sessions are samples, nothing else
    for path in sorted((SQL_DIR / "monitor").glob("*.sql")):
        text = re.sub(r"%\(\w+\)s", "NULL", path.read_text())
        assert describe(text).monitoring, path.name


def test_session_filter() -> None:
    from nchat_tui.monitor.sampler import SessionFilter

    rows: list[dict[str, Any]] = [{"pid": 1, "database": "nchat", "user": "app", "application": "hasura",
             "state": "active", "query_age_s": 7.0, "query": "SELECT 1"},
            {"pid": 2, "database": "pgbench", "user": "bench", "application": "pgbench",
             "state": "idle", "query_age_s": 90.0, "query": "COMMIT"},
            {"pid": 3, "database": "nchat", "user": "app", "application": "nchat-api",
             "state": "idle in transaction", "query_age_s": 2.0, "query": "UPDATE t"}]

    sessions = [Session.from_json({**SESSIONS[0], **r}) for r in rows]

    def pids(text: str) -> list[int]:
        f = SessionFilter.parse(text)
        return [r.pid for r in sessions if f.match(r)]

    assert pids("") == [1, 2, 3] and not SessionFilter.parse("")
    assert pids("db:nchat") == [1, 3]
    assert pids("user:bench") == [2]
    assert pids("app:HASURA") == [1]
    assert pids("state:idle") == [2, 3]
    assert pids("min:5") == [1]  # an idle session has no running query
    assert pids("min:2s db:nchat") == [1, 3]
    assert pids("update") == [3]
    assert SessionFilter.parse("min:1m").min_duration_s == 60.0
    assert "running >= 60s" in SessionFilter.parse("min:1m").describe()
    with pytest.raises(BadInput):
        SessionFilter.parse("min:soon")


def _shape(value: Any) -> Any:
    """The keys of a sample at every level (a list's shape is its first element's)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


KEYED_BY_DATA = (
    ".tps_by_database", ".by_database", ".by_state", ".waits", ".by_state_this_database",
    ".blocker_modes", ".stale", ".states", ".panels_at")


def _same_shape(fake: Any, real: Any, path: str = "sample") -> list[str]:
    out: list[str] = []
    if isinstance(fake, dict) and isinstance(real, dict):
        for k in sorted(set(fake) | set(real)):
            if f"{path}.{k}".endswith(KEYED_BY_DATA):
                continue  # keyed by data (database names, states, pids)
            if k not in real:
                out.append(f"{path}.{k}: in the fake only")
            elif k not in fake:
                out.append(f"{path}.{k}: in the real sample only")
            else:
                out += _same_shape(fake[k], real[k], f"{path}.{k}")
    elif isinstance(fake, list) and isinstance(real, list) and fake and real:
        out += _same_shape(fake[0], real[0], f"{path}[0]")
    return out


def test_frozen_sample_has_the_real_shape(pg_db: dict[str, str],
                                          locked_db: dict[str, Any]) -> None:
    """tests/monitor_fakes.FROZEN_SAMPLE must not drift from what Monitor.sample() returns."""
    from tests.monitor_fakes import FROZEN_SAMPLE, local_sample

    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for _ in range(3):
            c.execute("SELECT count(*) FROM nchat_users")
    mon = Monitor(pg_db)
    try:
        mon.sample()
        real = mon.sample().to_json()
    finally:
        mon.close()
    for name in ("tables", "slow_queries", "locks"):
        assert _shape(real[name]), f"the real sample has no {name} to compare"
    assert real["slow_queries"]["statements"] and real["slow_queries"]["monitoring"]
    # the test server runs here: the real sample is the host's, as local_sample() is
    assert real["host"]["local"] is True
    diffs = _same_shape(_shape(local_sample()), _shape(real))
    assert diffs == [], "\n".join(diffs)
    # FROZEN_SAMPLE is a remote target's: the same, less the system line
    remote = {**real, "host": {k: v for k, v in real["host"].items() if k != "system"}}
    diffs = _same_shape(_shape(FROZEN_SAMPLE), _shape(remote))
    assert diffs == [], "\n".join(diffs)


# -- the JSON contract: `monitor --once --json` and the journal, pinned key by key --------------
def _key_tree(value: Any, where: str = "") -> Any:
    """The keys of a JSON value at every level: a dict's keys with their own trees, a list's
    first element's tree; a map keyed by data (database names, states) as ``{"*": tree}``."""
    if isinstance(value, dict):
        if where.endswith(KEYED_BY_DATA):
            return {"*": _key_tree(next(iter(value.values())), where + "[*]")} if value else {}
        return {k: _key_tree(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_key_tree(value[0], where + "[0]")] if value else []
    return None


def _cli_json(params: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = params["password"]
    proc = subprocess.run([sys.executable, "-m", "nchat_tui", "monitor", "--once", "--json",
                           "--dsn", _dsn(params, with_password=False), *extra],
                          capture_output=True, text=True, env=env, timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def _key_sets(value: Any, where: str = "") -> dict[str, list[str]]:
    """Every dict of a JSON value as ``path: sorted keys`` (``[0]`` a list's first element,
    ``[*]`` the values of a map keyed by data), to compare with a pinned contract."""
    out: dict[str, list[str]] = {}
    if isinstance(value, dict):
        if where.endswith(KEYED_BY_DATA):
            if value:
                out.update(_key_sets(next(iter(value.values())), where + "[*]"))
            return out
        out[where or "$"] = sorted(value)
        for k, v in value.items():
            out.update(_key_sets(v, f"{where}.{k}"))
    elif isinstance(value, list) and value:
        out.update(_key_sets(value[0], where + "[0]"))
    return out


def _keys(words: str) -> list[str]:
    return sorted(words.split())


SESSION_KEYS = _keys("""pid database user application client_addr backend_type hidden state
    wait_event_type wait_event backend_age_s xact_age_s query_age_s state_age_s has_xid
    leader_pid superuser query own cpu_pct rss_bytes read_bps write_bps""")
STATEMENT_KEYS = _keys("""queryid database user calls total_ms mean_ms max_ms rows
    shared_blks_hit shared_blks_read read_ms query comment monitoring source calls_delta
    total_ms_delta mean_ms_delta""")
LOCK_NODE_KEYS = _keys("""pid user application state xact_age_s query database waiting mode
    locktype relation wait_event wait_s blocked_by held_modes own queue""")
TOP_KEYS = _keys("""ts target interval_s database server_version server_version_num backend_pid
    access database_size database_size_at tables connections host slow_queries locks progress
    cache_hit_ratio tps tps_this_database tps_by_database xact databases replication panels_at
    stale sample_ms""")

#: The key sets of `monitor --once --json` on a server with a lock queue, an index build waiting
#: for a writer and pg_stat_statements: every object the JSON holds (``[0]`` a list's first
#: element). Pinned before the sample became dataclasses; scripts read these keys.
PINNED_SAMPLE = {
    "$": TOP_KEYS,
    ".access": _keys("role superuser pg_monitor pg_read_all_stats pg_signal_backend level"),
    ".tables[0]": _keys("""oid schema name kind size_source total_bytes heap_bytes index_bytes
        toast_bytes row_estimate live_tuples dead_tuples mod_since_analyze last_vacuum
        last_analyze locked qualified_name lock"""),
    ".tables[0].lock": _keys("mode held_by waiting"),
    ".connections": _keys("""total this_database max_connections reserved available used_ratio
        by_state by_state_this_database by_database waits by_application oldest_xact
        idle_in_transaction replication_senders sessions"""),
    ".connections.by_application[0]": _keys("application user count states"),
    ".connections.oldest_xact": _keys("pid database xact_age_s state application user query"),
    ".connections.idle_in_transaction[0]": _keys("""pid database state_age_s xact_age_s
        application user has_xid query"""),
    ".connections.sessions[0]": SESSION_KEYS,
    ".host": _keys("local reason system"),
    ".host.system": _keys("""load cpus mem_total mem_available mem_used_pct disk_read_bps
        disk_write_bps"""),
    ".slow_queries": _keys("""installed_version default_version state columns deltas interval_s
        top_by_total top_by_mean statements monitoring"""),
    ".slow_queries.columns": _keys("total mean max read_time"),
    ".slow_queries.top_by_total[0]": STATEMENT_KEYS,
    ".slow_queries.top_by_mean[0]": STATEMENT_KEYS,
    ".slow_queries.statements[0]": STATEMENT_KEYS,
    ".slow_queries.monitoring[0]": STATEMENT_KEYS,
    ".locks": _keys("waiting longest_wait_s longest tree rows"),
    ".locks.longest": _keys("pid wait_s mode relation locktype wait_event blocked_by"),
    ".locks.tree[0]": sorted([*LOCK_NODE_KEYS, "children"]),
    ".locks.tree[0].children[0]": sorted([*LOCK_NODE_KEYS, "children"]),
    ".locks.rows[0]": sorted([*LOCK_NODE_KEYS, "depth"]),
    ".progress[0]": _keys("kind pid relation phase done total unit percent"),
    ".cache_hit_ratio": _keys("interval cumulative"),
    ".xact": _keys("commit rollback deadlocks temp_bytes"),
    ".databases[0]": _keys("""name current sessions active idle_in_transaction lock_waits waiting
        tps"""),
    ".replication": _keys("""in_recovery replay_delay_s replicas slots max_lag_bytes
        max_replay_lag_s"""),
}


def test_once_json_keys_are_pinned(pg_db: dict[str, str], pg_conn: psycopg.Connection[Any],
                                   locked_db: dict[str, Any], pg_cluster: LocalCluster) -> None:
    """The JSON of `monitor --once --json` keeps its keys, in every state a script meets:
    full, pg_stat_statements not created, a degraded role, an unreachable server."""
    rc, missing = _cli_json(pg_db)
    assert rc == 0
    assert _key_sets(missing["slow_queries"], ".slow_queries") == {
        ".slow_queries": _keys("installed_version default_version state unavailable fix")}
    assert missing["slow_queries"]["state"] == "not_created"

    pg_conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for _ in range(3):
        pg_conn.execute("SELECT count(*) FROM nchat_users")
    writer = psycopg.connect(make_conninfo(**pg_db), application_name="chat-api")
    writer.execute("INSERT INTO nchat_users VALUES (1000, 'late')")  # open write transaction
    build = _Waiter(pg_db, "CREATE INDEX CONCURRENTLY users_name_idx ON nchat_users (name)",
                    "index-build")
    build.start()
    try:
        _wait_until(lambda: _waiting(pg_conn, build.pid))
        rc, full = _cli_json(pg_db)
    finally:
        writer.rollback()
        writer.close()
        build.join(timeout=10)
        build.conn.close()
    assert rc == 0
    got = _key_sets(full)
    assert got == PINNED_SAMPLE
    assert set(full["panels_at"]) == {"database", "connections", "locks", "tables",
                                      "slow_queries", "progress", "replication"}
    assert full["stale"] == {} and full["tps_by_database"] == {}  # one sample: no rates yet

    role = f"mon_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'rolepw'")
    try:
        rc, degraded = _cli_json({**pg_db, "user": role, "password": "rolepw"})
    finally:
        pg_conn.execute(f"DROP ROLE {role}")
    assert rc == 0
    got = _key_sets(degraded)
    assert got["$"] == TOP_KEYS
    assert got[".access"] == sorted([*PINNED_SAMPLE[".access"], "label", "fix"])
    assert got[".connections"] == sorted([*PINNED_SAMPLE[".connections"], "hidden"])
    assert got[".connections.sessions[0]"] == SESSION_KEYS

    rc, down = _cli_json({**pg_db, "port": "1"})
    assert rc == 2
    assert _key_sets(down) == {
        "$": sorted([*(k for k in TOP_KEYS if k != "xact"), "error"]),
        ".access": ["level"],
        ".connections": [],
        ".host": _keys("local reason"),
        ".slow_queries": _keys("unavailable state fix"),
        ".locks": _keys("waiting longest_wait_s tree waiters"),
        ".cache_hit_ratio": _keys("interval cumulative"),
        ".replication": [],
        ".stale[*]": _keys("since reason last_ok has_data"),
    }


def test_journal_records_of_the_guarded_actions_are_pinned(
        pg_db: dict[str, str], pg_conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    """What the journal keeps of a cancel, a refusal, an EXPLAIN and a failed EXPLAIN."""
    _make_tables(pg_conn)
    journal = Journal(tmp_path / "journal.jsonl")
    mon = Monitor(pg_db, journal=journal, registry=SessionRegistry())
    victim = _Waiter(pg_db, "SELECT pg_sleep(60)", "slow-report")
    victim.start()
    try:
        _wait_until(lambda: bool(pg_conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
            (victim.pid,)).fetchone()))
        with pytest.raises(Refused):
            mon.cancel_backend(victim.pid)  # a superuser's session: needs the second yes
        mon.cancel_backend(victim.pid, confirm_privileged=True)
        victim.join(timeout=10)
        mon.explain("SELECT count(*) FROM nchat_users")
        with pytest.raises(Exception, match="EXPLAIN failed"):
            mon.explain("SELECT * FROM no_such_table")
    finally:
        victim.conn.close()
        mon.close()
    base = ["event", "host", "pid", "seq", "target", "ts", "user"]
    got = [(r["event"], sorted(r)) for r in journal.records()]
    assert got == [
        ("monitor_action_refused", sorted([*base, "action", "reason"])),
        ("monitor_action", sorted([*base, "action", "ok", "application", "query"])),
        ("monitor_explain", sorted([*base, "mode", "query"])),
        ("monitor_explain_failed", sorted([*base, "mode", "query", "reason"])),
    ]


def test_locks_sql_runs_only_while_a_session_of_the_server_waits(
        pg_db: dict[str, str], pg_conn: psycopg.Connection[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody waiting: this sample's read of pg_stat_activity says so, and the lock query
    (which starts from the waiting sessions) is not run; a wait shows in the next sample."""
    ran: list[str] = []
    real_rows = Monitor._rows

    def rows(self: Monitor, conn: Any, query: Any, params: Any = None) -> Any:
        if isinstance(query, str):
            ran.append(query.split(":", 1)[0])
        return real_rows(self, conn, query, params)

    monkeypatch.setattr(Monitor, "_rows", rows)
    _make_tables(pg_conn)
    mon = Monitor(pg_db)
    holder = psycopg.connect(make_conninfo(**pg_db), application_name="migration-ddl")
    waiter = None
    try:
        for _ in range(2):
            s = mon.sample(panels=set())
        assert "-- activity.sql" in ran
        assert "-- locks.sql" not in ran
        assert s.locks.waiting == 0 and s.locks.rows == [] and s.locks.answered
        assert "locks" not in s.stale
        assert s.connections is not None
        assert all("lock_waiters_server" not in x.to_json() for x in s.connections.sessions)

        holder.execute("LOCK TABLE nchat_users IN ACCESS EXCLUSIVE MODE")
        waiter = _Waiter(pg_db, "SELECT count(*) FROM nchat_users", "chat-app-1")
        waiter.start()
        _wait_until(lambda: _waiting(pg_conn, waiter.pid))
        s = mon.sample(panels=set())
        assert "-- locks.sql" in ran
        assert s.locks.waiting == 1
        assert [r.pid for r in s.locks.rows if r.waiting] == [waiter.pid]
    finally:
        mon.close()
        holder.rollback()
        holder.close()
        if waiter is not None:
            waiter.join(timeout=10)
            waiter.conn.close()
