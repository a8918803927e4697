"""Issue 9, items 3 to 8, 11, 13 and 14: crashes, full disks and bad input on the real CLI, the
real PostgreSQL and the real client tools. Each test reproduces a reported failure; the fault
matrix over every named fail point is ``test_fault_matrix.py``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.backup.engine import (
    find_leftovers,
    read_manifest,
    remove_leftovers,
    restore_into,
    run_backup,
    write_manifest,
)
from nchat_tui.errors import NchatError, OperationFailed
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal
from tests.crashkit import (
    REPO,
    cli,
    databases,
    fill,
    one_line_error,
    pid_gone,
    start_cli,
    tmpfs,
    wait_for,
)
from tests.pgrows import scalar

Conn = psycopg.Connection[Any]
SMALL = """CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;"""


@pytest.fixture
def cleanup_dbs(target: Target) -> Iterator[None]:
    """Drop the databases a test's crashed runs left beside its own (same name prefix)."""
    yield
    prefix = target.database[:25]
    with target.connect("test cleanup", dbname="postgres") as a:
        for (name,) in a.execute("SELECT datname FROM pg_database WHERE datname LIKE %s "
                                 "AND datname <> %s", (prefix.replace("_", r"\_") + "%",
                                                       target.database)).fetchall():
            a.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                psycopg.sql.Identifier(name)))
            a.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)))


def _folder(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    d = tmp_path / "migrations"
    d.mkdir(exist_ok=True)
    for n, body in files.items():
        if isinstance(body, bytes):
            (d / n).write_bytes(body)
        else:
            (d / n).write_text(body)
    return d


def _ledger(conn: Conn) -> list[str]:
    try:
        return [r[0] for r in conn.execute(
            "SELECT name FROM np_common.schema_versions ORDER BY name").fetchall()]
    except psycopg.errors.UndefinedTable:
        return []


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


# ---------------------------------------------------------------------------------------------
# item 3: the restore swap never leaves production refusing logins
# ---------------------------------------------------------------------------------------------
def test_swap_killed_after_disallowing_connections_is_undone_by_the_next_command(
        target: Target, pg_conn: Conn, cleanup_dbs: None) -> None:
    pg_conn.execute(SMALL)
    dump = run_backup(target).path
    pg_conn.execute("INSERT INTO items VALUES (9999, 'written after the backup')")
    p = cli(target, "rollback", "--backup", str(dump), "--yes", failpoint="swap.after_disallow")
    assert p.returncode == -signal.SIGKILL, p.stderr
    # Any next command first finishes or undoes the swap, and says what it did.
    st = cli(target, "status", "--json")
    assert st.returncode == 0, st.stderr
    assert "unfinished restore swap" in st.stderr and "connections allowed again" in st.stderr
    assert databases(target)[target.database] is True
    with target.connect("test") as c:  # production untouched: the late row is still there
        assert c.execute("SELECT count(*) FROM items").fetchone() == (501,)
    # The journal says what happened, and a second start finds nothing left to do.
    again = cli(target, "status", "--json")
    assert again.returncode == 0 and "swap" not in again.stderr


def test_a_database_refusing_connections_says_who_did_it_and_how_to_undo(
        target: Target, pg_conn: Conn, cleanup_dbs: None) -> None:
    with target.connect("test", dbname="postgres") as a:
        a.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
            psycopg.sql.Identifier(target.database)))
    try:
        p = cli(target, "status")
        assert p.returncode == 2
        line = one_line_error(p)
        assert "not accepting connections" in line
        assert "not by nchat-tui" in line
        assert f'ALTER DATABASE "{target.database}" ALLOW_CONNECTIONS true' in line
    finally:
        with target.connect("test", dbname="postgres") as a:
            a.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                psycopg.sql.Identifier(target.database)))


def test_refusal_by_an_unsettled_swap_is_named_from_the_journal(
        target: Target, pg_conn: Conn, cleanup_dbs: None) -> None:
    """The marker lost (a hand clean-up), the journal still tells: the tool did it."""
    pg_conn.execute(SMALL)
    dump = run_backup(target).path
    p = cli(target, "rollback", "--backup", str(dump), "--yes", failpoint="swap.after_disallow")
    assert p.returncode == -signal.SIGKILL
    for m in (target.state_dir / "pending").iterdir():
        m.unlink()
    p = cli(target, "status")
    assert p.returncode == 2
    line = one_line_error(p)
    assert "nchat-tui's restore swap did this" in line and "never recorded" in line
    assert f'ALTER DATABASE "{target.database}" ALLOW_CONNECTIONS true' in line


# ---------------------------------------------------------------------------------------------
# item 4: paths read from manifests stay inside the backup directory
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../victim.txt", "ABS"])
def test_remove_leftovers_never_deletes_outside_the_backup_dir(target: Target, tmp_path: Path,
                                                               name: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    if name == "ABS":
        name = str(victim)
    bd = target.backup_dir
    bd.mkdir(parents=True)
    m = {"manifest_version": 1, "state": "running", "pid": _dead_pid(), "pid_started": "1",
         "host": socket.gethostname(), "file": name, "temp_file": name, "format": "custom",
         "database": target.database, "started_at": "2026-01-01T00:00:00+00:00"}
    (bd / "evil_20260101_000000.manifest.json").write_text(json.dumps(m))
    p = cli(target, "backups", "--remove-leftovers")
    assert p.returncode == 0, p.stderr
    assert victim.read_text() == "precious"
    assert "outside the backup directory" in p.stdout
    # the app's offer goes through the same core functions
    found = find_leftovers(bd)
    remove_leftovers(found, None, target)
    assert victim.read_text() == "precious"


def test_a_hand_edited_session_pointer_never_leads_outside_the_state_dir(
        target: Target, tmp_path: Path) -> None:
    from nchat_tui.report.markdown import session_dir_for
    from nchat_tui.state.journal import target_key

    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "journal.jsonl").write_text('{"seq":1,"event":"planted"}\n')
    pointer = target.state_dir / "targets" / f"{target_key(target.masked())}.current"
    pointer.parent.mkdir(parents=True)
    (target.state_dir / "sessions").mkdir()
    pointer.write_text("../../outside/x\n")
    j = Journal.for_target(target.state_dir, target.masked())
    assert j.path.resolve().is_relative_to((target.state_dir / "sessions").resolve())
    assert session_dir_for(target.state_dir, target.masked()) != outside / "x"
    assert (outside / "x" / "journal.jsonl").read_text().count("\n") == 1  # untouched


# ---------------------------------------------------------------------------------------------
# item 5: short writes and full disks
# ---------------------------------------------------------------------------------------------
def test_manifest_write_on_a_full_disk_fails_and_keeps_the_old_manifest(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="256k") as d:
        mp = d / "b_20260101_000000.manifest.json"
        write_manifest(mp, {"state": "unverified", "size": 1})
        fill(d, leave=8192)  # two pages free: the write below is cut short, then ENOSPC
        big = {"state": "verified", "pad": "x" * 40000}
        with pytest.raises((OperationFailed, OSError)) as ei:
            write_manifest(mp, big)
        assert "disk full" in str(ei.value).lower() or "No space" in str(ei.value)
        assert read_manifest(mp) == {"state": "unverified", "size": 1}
        assert not list(d.glob("*.tmp"))


def test_journal_append_on_a_full_disk_refuses_to_pretend(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="256k") as d:
        j = Journal(d / "s" / "journal.jsonl")
        j.append("session_started")
        fill(d, leave=8192)
        ok = 0
        with pytest.raises((NchatError, OSError)):
            for n in range(200):
                j.append("filler", n=n, pad="y" * 900)
                ok += 1
        recs = j.records()
        assert not j.damaged  # no record half-written
        assert len(recs) == ok + 1  # every append that returned is readable, nothing more


# ---------------------------------------------------------------------------------------------
# items 6, 7, 8: the runner's truth after kills
# ---------------------------------------------------------------------------------------------
def test_killed_create_index_concurrently_is_not_hidden_by_if_not_exists(
        target: Target, pg_conn: Conn, pg_db: dict[str, str], tmp_path: Path) -> None:
    pg_conn.execute("CREATE TABLE t (x int)")
    pg_conn.execute("INSERT INTO t SELECT g FROM generate_series(1, 20000) g")
    d = _folder(tmp_path, {"001_idx.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n"})
    t = replace(target, migrations_dir=d)
    holder = psycopg.connect(make_conninfo(**pg_db), autocommit=False)  # an old snapshot: the build waits
    holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    holder.execute("SELECT 1")
    proc = start_cli(t, "migrate", "--yes", "--without-backup", "test")
    try:
        wait_for(lambda: scalar(pg_conn,
            "SELECT count(*) FROM pg_stat_progress_create_index WHERE phase LIKE 'waiting%%'"
        ), what="the concurrent build to wait")
        proc.kill()
        proc.wait(10)
        wait_for(lambda: scalar(pg_conn,
            "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE "
            "'nchat-tui migrate%%'"), what="the server to end the orphan")
    finally:
        holder.close()
        if proc.poll() is None:
            proc.kill()
    assert pg_conn.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = "
                           "'t_x'::regclass").fetchone() == (True,)
    p = cli(t, "migrate", "--yes", "--without-backup", "test")
    out = p.stdout + p.stderr
    assert "server rolled back" not in out  # untrue for a concurrent build
    assert p.returncode == 1, out
    assert "t_x" in out and "invalid" in out and "DROP INDEX CONCURRENTLY" in out
    assert _ledger(pg_conn) == []  # never recorded over an invalid index
    # With the operator's go-ahead, the invalid index is dropped and built again.
    p = cli(t, "migrate", "--yes", "--without-backup", "test", "--rebuild-invalid-indexes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert pg_conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                           "'t_x'::regclass").fetchone() == (True,)
    assert _ledger(pg_conn) == ["001_idx.sql"]


def test_a_commit_just_before_a_kill_is_reported_from_the_ledger(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);",
                           "002_b.sql": "CREATE TABLE b (id int);"})
    t = replace(target, migrations_dir=d)
    p = cli(t, "migrate", "--yes", "--without-backup", "test", failpoint="runner.after_commit")
    assert p.returncode == -signal.SIGKILL
    assert _ledger(pg_conn) == ["001_a.sql"]
    rep = cli(t, "report", "--output", "-")  # the journal alone: it does not claim "none"
    assert rep.returncode == 0, rep.stderr
    assert "not yet checked against the ledger" in rep.stdout, rep.stdout
    st = cli(t, "status")  # the next start reconciles the journal with the ledger
    assert st.returncode == 0, st.stderr
    assert "committed per the ledger: 001_a.sql" in st.stderr, st.stderr
    rep = cli(t, "report", "--output", "-")
    assert re.search(r"committed per the ledger: 001_a\.sql", rep.stdout), rep.stdout
    p = cli(t, "migrate", "--yes", "--json", "--without-backup", "test")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["previous_interrupted_run"]["files_committed"] == ["001_a.sql"]
    assert doc["committed"] == ["002_b.sql"]


def test_a_second_migrate_never_declares_the_live_run_dead(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_slow.sql": "CREATE TABLE s (id int);\nSELECT pg_sleep(60);\n"})
    t = replace(target, migrations_dir=d)
    first = start_cli(t, "migrate", "--yes", "--without-backup", "test")
    try:
        wait_for(lambda: scalar(pg_conn,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
        ), what="the first run's sleep")
        second = cli(t, "migrate", "--yes", "--without-backup", "test")
        assert second.returncode == 4, second.stdout + second.stderr
        out = second.stdout + second.stderr
        assert "ended without finishing" not in out and "rolled back" not in out
        assert f"pid {first.pid}" in out  # named as the live run
    finally:
        first.kill()
        first.wait(10)


# ---------------------------------------------------------------------------------------------
# item 11: drops are journaled as they happened; databases of crashed runs are leftovers
# ---------------------------------------------------------------------------------------------
def test_a_failed_drop_is_never_journaled_as_dropped(target: Target, pg_conn: Conn,
                                                     pg_db: dict[str, str],
                                                     cleanup_dbs: None) -> None:
    pg_conn.execute(SMALL)
    dump = run_backup(target).path
    role = f"weak_{target.database[-6:]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD 'weak-pw'")
    weak = Target(**{**target.__dict__, "params": {**target.params, "user": role,
                                                     "password": "weak-pw"}})
    into = target.database[:25] + "_weakcopy"
    cancel = threading.Event()
    squatter: list[Conn] = []

    def progress(ev: Any) -> None:
        if ev.kind == "started" and not squatter:  # a superuser session the role cannot end
            squatter.append(psycopg.connect(make_conninfo(**{**pg_db, "dbname": into}), autocommit=True))
            cancel.set()

    try:
        with pytest.raises(NchatError):
            restore_into(weak, dump, into, on_progress=progress, cancel_event=cancel)
        assert into in databases(target)  # the drop could not happen...
        j = Journal.for_target(weak.state_dir, weak.masked())
        rec = j.last("restore_failed")
        assert rec is not None and rec["dropped_own_database"] is False  # ...and says so
        assert rec.get("drop_error")
    finally:
        for c in squatter:
            c.close()
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{into}" WITH (FORCE)')
        pg_conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_the_database_of_a_killed_restore_is_a_leftover_offered_for_dropping(
        target: Target, pg_conn: Conn, cleanup_dbs: None) -> None:
    pg_conn.execute(SMALL)
    dump = run_backup(target).path
    into = target.database[:25] + "_copy"
    p = cli(target, "restore", str(dump), "--into", into, failpoint="restore.after_tool_started")
    assert p.returncode == -signal.SIGKILL
    wait_for(lambda: into in databases(target), what="the half-restored database")
    b = cli(target, "backups", "--json")
    assert b.returncode == 0, b.stderr
    found = [lo["database"] for lo in json.loads(b.stdout)["leftovers"]]
    assert into in found
    r = cli(target, "backups", "--remove-leftovers")
    assert r.returncode == 0, r.stderr
    assert into not in databases(target)


# ---------------------------------------------------------------------------------------------
# item 13: one line, exit 2, the cause and the next step
# ---------------------------------------------------------------------------------------------
def _migrations(tmp_path: Path, n: int = 2) -> Path:
    return _folder(tmp_path, {f"{i:03d}_t{i}.sql": f"CREATE TABLE t{i} (id int);"
                              for i in range(1, n + 1)})


def test_state_dir_that_is_a_file(target: Target, tmp_path: Path) -> None:
    f = tmp_path / "statefile"
    f.write_text("not a directory")
    t = replace(target, state_dir=f, migrations_dir=_migrations(tmp_path))
    p = cli(t, "migrate", "--yes", "--without-backup", "test")
    assert p.returncode == 2
    line = one_line_error(p)
    assert "not a directory" in line and str(f) in line


def test_state_dir_read_only(target: Target, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", ro=True) as d:
        t = replace(target, state_dir=d / "state", migrations_dir=_migrations(tmp_path))
        p = cli(t, "migrate", "--yes", "--without-backup", "test")
        assert p.returncode == 2
        assert "read-only" in one_line_error(p)


def test_state_dir_full(target: Target, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", size="64k") as d:
        fill(d, leave=0)
        t = replace(target, state_dir=d / "state", migrations_dir=_migrations(tmp_path))
        p = cli(t, "migrate", "--yes", "--without-backup", "test")
        assert p.returncode == 2
        assert "disk full" in one_line_error(p)


def test_state_dir_fills_up_mid_migrate(target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", size="256k") as d:
        t = replace(target, state_dir=d / "state", migrations_dir=_migrations(tmp_path, 12))
        (d / "state").mkdir()
        fill(d, leave=3 * 4096)
        p = cli(t, "migrate", "--yes", "--without-backup", "test")
        assert p.returncode == 2, p.stdout + p.stderr
        line = one_line_error(p)
        assert "disk full" in line and "journal" in line
        done = _ledger(pg_conn)
        assert 0 < len(done) < 12  # it stopped mid-run...
        for i in range(1, 13):  # ...with every file either whole and recorded, or absent
            exists = scalar(pg_conn, "SELECT to_regclass(%s) IS NOT NULL", (f"t{i}",))
            assert exists == (f"{i:03d}_t{i}.sql" in done)
        assert "committed: " + ", ".join(done) in line


def test_backup_dir_read_only_or_a_file(target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    pg_conn.execute(SMALL)
    f = tmp_path / "afile"
    f.write_text("x")
    p = cli(replace(target, backup_dir=f), "backup")
    assert p.returncode == 2
    assert "not a directory" in one_line_error(p)
    with tmpfs(tmp_path / "ro", ro=True) as d:
        p = cli(replace(target, backup_dir=d), "backup")
        assert p.returncode == 2
        assert "read-only" in one_line_error(p)


def test_report_output_a_directory_read_only_or_the_journal(target: Target,
                                                            tmp_path: Path) -> None:
    j = Journal.for_target(target.state_dir, target.masked())
    j.append("note", text="something happened")
    before = j.path.read_bytes()
    p = cli(target, "report", "--output", str(tmp_path))
    assert p.returncode == 2 and "directory" in one_line_error(p)
    p = cli(target, "report", "--output", str(j.path))
    assert p.returncode == 2 and "journal" in one_line_error(p)
    assert j.path.read_bytes() == before
    with tmpfs(tmp_path / "ro", ro=True) as d:
        p = cli(target, "report", "--output", str(d / "report.md"))
        assert p.returncode == 2 and "read-only" in one_line_error(p)


def test_a_migration_file_that_is_not_utf8(target: Target, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": b"CREATE TABLE a (note text DEFAULT '\xe9t\xe9');\n"})
    t = replace(target, migrations_dir=d)
    for args in (["migrate", "--yes", "--without-backup", "test"], ["plan"]):
        p = cli(t, *args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        line = one_line_error(p)
        assert "001_a.sql" in line and "UTF-8" in line


@pytest.mark.parametrize("bad", [["--lock-timeout", "nan"], ["--lock-timeout", "inf"],
                                 ["--statement-timeout", "-1"], ["--statement-timeout", "nan"]])
def test_bad_timeouts_are_refused(target: Target, tmp_path: Path, bad: list[str]) -> None:
    t = replace(target, migrations_dir=_migrations(tmp_path))
    p = cli(t, "migrate", "--yes", "--without-backup", "test", *bad)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "fix the file" not in p.stdout + p.stderr
    one_line_error(p)


def test_a_killed_pg_restore_is_reported_by_its_signal(target: Target, pg_conn: Conn,
                                                       cleanup_dbs: None) -> None:
    pg_conn.execute(SMALL)
    dump = run_backup(target).path

    def progress(ev: Any) -> None:
        if ev.kind == "started" and ev.pid:
            os.kill(ev.pid, signal.SIGKILL)

    with pytest.raises(NchatError) as ei:
        restore_into(target, dump, target.database[:25] + "_sig", on_progress=progress)
    assert "pg_restore was killed by signal 9" in ei.value.message


def test_the_server_ending_the_session_is_not_a_file_to_fix(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_slow.sql": "CREATE TABLE s (id int);\nSELECT pg_sleep(60);\n"})
    t = replace(target, migrations_dir=d)
    proc = start_cli(t, "migrate", "--yes", "--without-backup", "test")
    wait_for(lambda: scalar(pg_conn,
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
    ), what="the sleep")
    pg_conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'SELECT pg_sleep(60)%%'")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (1, 2), out + err
    assert "fix the file" not in out + err
    assert "server ended" in out + err
    assert _ledger(pg_conn) == []


def test_a_real_server_restart_mid_migrate_is_not_a_file_to_fix(tmp_path: Path) -> None:
    """A PostgreSQL of this test's own (the shared one must not restart under other tests),
    restarted (fast shutdown) while a migration statement runs."""
    import shutil
    import tempfile

    from nchat_tui.pg.cluster import LocalCluster
    from nchat_tui.pg.target import resolve_target

    base = Path(tempfile.mkdtemp(prefix="nchat-test-pg-restart-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = LocalCluster(datadir=base / "data", sockdir=base / "run", password="restart-pw")
    cluster.start()
    try:
        with psycopg.connect(make_conninfo(**cluster.socket_conninfo()), autocommit=True) as c:
            c.execute("CREATE DATABASE app")
        d = _folder(tmp_path, {"001_slow.sql": "CREATE TABLE s (id int);\nSELECT pg_sleep(60);\n",
                               "002_t.sql": "CREATE TABLE t (id int);"})
        params = cluster.tcp_conninfo("app")
        t = resolve_target(dsn=" ".join(f"{k}={v}" for k, v in params.items()),
                           backup_dir=tmp_path / "b", state_dir=tmp_path / "s",
                           migrations=str(d), environ={})
        proc = start_cli(t, "migrate", "--yes", "--without-backup", "test")

        def sleeping() -> bool:
            with psycopg.connect(make_conninfo(**cluster.socket_conninfo("app")), autocommit=True) as c:
                return bool(scalar(c, "SELECT count(*) FROM pg_stat_activity WHERE query "
                                      "LIKE 'SELECT pg_sleep(60)%%'"))

        wait_for(sleeping, what="the sleep")
        cluster.stop(mode="fast")
        cluster.start()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode in (1, 2), out + err
        assert "fix the file" not in out + err and "Traceback" not in err
        assert "server ended" in out + err
        # the server is back: the run goes on from where it stood (the file rolled back whole)
        (d / "001_slow.sql").write_text("CREATE TABLE s (id int);\n")
        p = cli(t, "migrate", "--yes", "--json", "--without-backup", "test")
        assert p.returncode == 0, p.stdout + p.stderr
        assert json.loads(p.stdout)["committed"] == ["001_slow.sql", "002_t.sql"]
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_demo_seed_at_scale_2_does_not_overflow(pg_db: dict[str, str]) -> None:
    from nchat_tui.demo.builder import load_demo

    rep = load_demo(pg_db, scale=2.0)
    assert rep.counts["nchat_messages"] >= 590000


# ---------------------------------------------------------------------------------------------
# item 14: private from creation; children die with the tool
# ---------------------------------------------------------------------------------------------
def test_state_files_and_folders_are_private_from_creation(target: Target, pg_conn: Conn,
                                                           tmp_path: Path) -> None:
    from nchat_tui.verify.engine import record_stats_baseline

    state = tmp_path / "fresh" / "state"
    t = replace(target, state_dir=state, migrations_dir=_migrations(tmp_path))
    old = os.umask(0o022)
    try:
        p = cli(t, "migrate", "--yes", "--without-backup", "test")
        assert p.returncode == 0, p.stderr
        record_stats_baseline(pg_conn, t)
    finally:
        os.umask(old)
    seen = [state, *state.rglob("*")]
    assert any(x.name == "stats" for x in seen) and any(x.suffix == ".current" for x in seen)
    for x in seen:
        mode = stat.S_IMODE(x.stat().st_mode)
        assert mode == (0o700 if x.is_dir() else 0o600), (x, oct(mode))


def test_cluster_password_file_is_never_world_readable(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from nchat_tui.pg import cluster as pgcluster

    base = Path("/tmp") / f"nchat-test-pwfile-{os.getpid()}"
    base.mkdir(mode=0o755)
    seen: list[int] = []
    real_run = pgcluster.LocalCluster._run

    def run(self: Any, *args: str, check: bool = True) -> Any:
        if "initdb" in args[0]:
            seen.append(stat.S_IMODE((self.sockdir / ".pwfile").stat().st_mode))
        return real_run(self, *args, check=check)

    real_chmod = os.chmod

    def chmod(path: Any, mode: int, *a: Any, **kw: Any) -> None:
        if str(path).endswith(".pwfile"):
            seen.append(stat.S_IMODE(os.stat(path).st_mode))
        real_chmod(path, mode, *a, **kw)

    monkeypatch.setattr(pgcluster.LocalCluster, "_run", run)
    monkeypatch.setattr(os, "chmod", chmod)
    try:
        c = pgcluster.LocalCluster(datadir=base / "data", sockdir=base / "run", password="pw")
        old = os.umask(0o022)
        try:
            c.init()
        finally:
            os.umask(old)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    assert seen and all(m == 0o600 for m in seen), [oct(m) for m in seen]


def test_a_child_tool_dies_with_the_tool(tmp_path: Path) -> None:
    code = ("import os, sys, time\n"
            "from nchat_tui.pg.tools import ToolProcess\n"
            "tp = ToolProcess(['sleep', '120'], dict(os.environ)).start()\n"
            "print(tp.pid, flush=True)\n"
            "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert not pid_gone(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: pid_gone(child), timeout=10, what="the orphaned child to die")
    finally:
        if proc.poll() is None:
            proc.kill()
        if "child" in locals() and not pid_gone(child):
            os.kill(child, signal.SIGKILL)
