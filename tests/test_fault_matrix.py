"""The fault matrix: every destructive path, run through the real CLI in a subprocess on a real
database, killed with SIGKILL at each of its named fail points (``nchat_tui/failpoints.py``).
After each kill the test checks that the database, the ledger, the journal and the report tell
the truth, and that the next start (the CLI, and the app's start-up notice through
``UpgradeSession.start_up_notices``) offers the right recovery.

Cost on 2 cores: one small database per path (the swap shares one across its points), tiny
dumps; see docs/RELIABILITY.md for the measured duration.
"""

from __future__ import annotations

import ast
import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from nchat_tui.backup.engine import latest_verified_backup, list_backups
from nchat_tui.pg.cluster import LocalCluster
from nchat_tui.pg.target import Target, resolve_target
from nchat_tui.state.failpoints import REGISTRY
from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.session import UpgradeSession
from tests.crashkit import REPO, cli, databases, wait_for
from tests.pgrows import scalar

KILLED = -signal.SIGKILL
SMALL = """CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;"""
COVERED: set[str] = set()
"""Fail points the parametrizations below exercise (checked against the registry)."""


def covers(*points: str) -> list[str]:
    COVERED.update(p.split("@", 1)[0] for p in points)
    return list(points)


def events(t: Target) -> list[dict[str, Any]]:
    return [r for p in sorted((t.state_dir / "sessions").glob("*/journal.jsonl"))
            for r in Journal(p).records()]


def names(t: Target) -> list[str]:
    return [str(r.get("event")) for r in events(t)]


def report(t: Target) -> str:
    p = cli(t, "report", "--output", "-")
    assert p.returncode == 0, p.stderr
    return p.stdout


def pending_markers(t: Target) -> list[Path]:
    d = t.state_dir / "pending"
    return sorted(d.iterdir()) if d.is_dir() else []


def count(t: Target, dbname: str | None = None) -> int:
    with t.connect("test", dbname=dbname) as c:
        return int(c.execute("SELECT count(*) FROM items").fetchone()[0])  # type: ignore[index]


def ledger(t: Target) -> list[str]:
    with t.connect("test") as c:
        try:
            return [r[0] for r in c.execute(
                "SELECT name FROM np_common.schema_versions ORDER BY name").fetchall()]
        except psycopg.errors.UndefinedTable:
            return []


def app_notices(t: Target, expect: str) -> list[str]:
    """The app's start-up notice as the operator meets it: ``open_session`` (what ``run_app``
    does before any screen) and the real app under Pilot, until a notification holding
    ``expect`` shows (or 20 s). Returns every notification's text."""
    import asyncio

    from nchat_tui.screens.app import make_app, open_session

    session = open_session(t)
    app = make_app(session)
    seen: list[str] = []

    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                seen[:] = [str(n.message) for n in app._notifications]
                if any(expect in m for m in seen):
                    return
                await pilot.pause(0.05)

    asyncio.run(go())
    if not any(expect in m for m in seen):
        # what the operator would have met instead (a CI run once saw no notice at all)
        seen.append(f"[no such notice; connect_error={session.connect_error!r}, settled at "
                    f"start={session.settled_at_start!r}]")
    return seen


def leftover_dbs(t: Target) -> list[str]:
    p = cli(t, "backups", "--json")
    assert p.returncode == 0, p.stderr
    return [lo["database"] for lo in json.loads(p.stdout)["leftovers"] if lo["database"]]


def drop_all_like(t: Target, prefix: str) -> None:
    with t.connect("test cleanup", dbname="postgres") as a:
        for (n,) in a.execute("SELECT datname FROM pg_database WHERE datname LIKE %s AND "
                              "datname <> %s", (prefix.replace("_", r"\_") + "%",
                                                t.database)).fetchall():
            a.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                sql.Identifier(n)))
            a.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(n)))


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
def _placed() -> set[str]:
    found: set[str] = set()
    pkg = REPO / "nchat_tui"
    for path in pkg.rglob("*.py"):
        if path.relative_to(pkg).parts[0] in ("screens", "sql"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                    "failpoint", "is_armed", "fire") and node.args and \
                    isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
            if isinstance(node, ast.keyword) and node.arg == "mid_write_failpoint" and \
                    isinstance(node.value, ast.Constant):
                found.add(str(node.value.value))
    return found


def test_every_registered_fail_point_is_placed_and_every_placed_one_registered() -> None:
    assert _placed() == set(REGISTRY)


def test_every_registered_fail_point_is_in_the_matrix() -> None:
    # COVERED fills while this module's parametrizations are built (at collection)
    assert set(REGISTRY) - COVERED == set(), "not exercised: " + ", ".join(
        sorted(set(REGISTRY) - COVERED))


def test_an_unarmed_process_pays_nothing() -> None:
    import nchat_tui.state.failpoints as fp

    if not fp._ARMED:
        assert fp.failpoint is fp._noop


# ---------------------------------------------------------------------------------------------
# the restore swap: one database and one backup shared by all its points
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def swap_env(pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Target, Path]]:
    from nchat_tui.backup.engine import run_backup

    name = f"t_fm_swap_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = tmp_path_factory.mktemp("swap")
    params = pg_cluster.tcp_conninfo(name)
    t = resolve_target(dsn=" ".join(f"{k}={v}" for k, v in params.items()),
                       backup_dir=base / "backups", state_dir=base / "state", environ={})
    with t.connect("setup") as c:
        c.execute(SMALL)
    dump = run_backup(t).path
    try:
        yield t, dump
    finally:
        drop_all_like(t, name)
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SWAP_POINTS = {  # point -> what the next start must do
    "swap.after_intent": "undone",
    "swap.after_disallow": "undone",
    "swap.after_terminate": "undone",
    "swap.between_renames": "undone",
    "swap.before_commit": "undone",
    "swap.after_commit": "completed",
}


@pytest.mark.parametrize("next_start", ["cli", "app"])
@pytest.mark.parametrize("point", covers(*SWAP_POINTS))
def test_swap_killed(swap_env: tuple[Target, Path], point: str, next_start: str) -> None:
    t, dump = swap_env
    db = t.database
    late = 100000 + len(events(t))
    with t.connect("test") as c:  # written after the backup: only production has it
        c.execute("INSERT INTO items VALUES (%s, 'late')", (late,))
    before = count(t)
    app_session = t.connect("an application session")  # the swap must end it
    p = cli(t, "rollback", "--backup", str(dump), "--yes", failpoint=point)
    assert p.returncode == KILLED, p.stderr
    app_session.close()
    # right after the kill: the journal holds the intent, the marker is there
    ev = names(t)
    assert "rollback_swap_intent" in ev[ev.index("rollback_restore_started"):]
    assert pending_markers(t)
    expected = SWAP_POINTS[point]
    if point != "swap.after_intent" and expected == "undone":
        # (the between/before-commit kills: the server rolls the renames back by itself)
        assert wait_for(lambda: databases(t).get(db) is False, what="production refusing")
    # the next start settles it and says so
    if next_start == "cli":
        st = cli(t, "status", "--json")
        assert st.returncode == 0, st.stderr
        said = st.stderr
    else:
        said = "\n".join(app_notices(t, "unfinished restore swap"))
    assert "unfinished restore swap" in said, said
    dbs = databases(t)
    assert dbs[db] is True  # never left refusing logins
    assert not pending_markers(t)
    rec = [r for r in events(t) if r.get("event") == "rollback_swap_recovered"][-1]
    assert rec["outcome"] == expected
    old, rest = rec["old_name"], rec["restore_name"]
    if expected == "completed":
        assert "the swap is complete" in said
        assert count(t) == 500 and count(t, old) == before  # restored; the old one kept
        assert dbs[old] is True and rest not in dbs
        p = cli(t, "rollback", "--drop-old", old, "--yes")
        assert p.returncode == 0, p.stderr
    else:
        assert count(t) == before  # production untouched, its late row still there
        assert old not in dbs
        if point == "swap.after_intent":
            assert "had not refused connections yet" in said
        else:
            assert "connections allowed again" in said
        # the restored copy is a leftover, offered for dropping
        assert rest in leftover_dbs(t)
        p = cli(t, "backups", "--remove-leftovers")
        assert p.returncode == 0, p.stderr
        assert rest not in databases(t)
    assert "rollback_swap_recovered" in report(t)
    # a second start has nothing left to settle
    again = cli(t, "status")
    assert again.returncode == 0 and "swap" not in again.stderr


# ---------------------------------------------------------------------------------------------
# dropping a kept database
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", covers("drop_old.after_intent", "drop_old.after_drop"))
def test_drop_old_killed(target: Target, pg_conn: psycopg.Connection[Any], point: str) -> None:
    kept = target.database[:30] + "_before_rollback_20260101_000000"
    pg_conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(kept)))
    try:
        p = cli(target, "rollback", "--drop-old", kept, "--yes", failpoint=point)
        assert p.returncode == KILLED
        assert "rollback_old_database_drop_started" in names(target)
        assert "rollback_old_database_dropped" not in names(target)
        gone = point == "drop_old.after_drop"
        assert (kept in databases(target)) is not gone
        st = cli(target, "status")
        assert st.returncode == 0, st.stderr
        if gone:
            assert "had completed" in st.stderr
            assert names(target)[-1] == "rollback_old_database_dropped"
        else:
            assert "did not happen" in st.stderr and f"--drop-old {kept}" in st.stderr
            assert "rollback_old_database_dropped" not in names(target)
        assert not pending_markers(target)
    finally:
        pg_conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(kept)))


# ---------------------------------------------------------------------------------------------
# the restore into a new database
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", covers("restore.after_create", "restore.after_tool_started",
                                         "restore.after_restore"))
def test_restore_killed(target: Target, pg_conn: psycopg.Connection[Any], point: str) -> None:
    from nchat_tui.backup.engine import run_backup

    pg_conn.execute(SMALL)
    dump = run_backup(target).path
    into = target.database[:30] + "_into"
    try:
        p = cli(target, "restore", str(dump), "--into", into, failpoint=point)
        assert p.returncode == KILLED
        assert into in databases(target)
        ev = names(target)
        assert "restore_started" in ev and "restore_finished" not in ev
        # the next start lists it among the leftovers (marking it first if the kill came
        # before the mark), and the operator's yes drops it
        assert into in leftover_dbs(target)
        p = cli(target, "backups", "--remove-leftovers")
        assert p.returncode == 0, p.stderr
        assert into not in databases(target)
        assert not pending_markers(target)
        assert count(target) == 500  # the source was never touched
    finally:
        pg_conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(into)))


# ---------------------------------------------------------------------------------------------
# the backup
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", covers("backup.after_manifest", "backup.after_dump_started",
                                         "backup.after_dump", "backup.before_rename",
                                         "backup.after_rename", "manifest.mid_write@1",
                                         "manifest.mid_write@3"))
def test_backup_killed(target: Target, pg_conn: psycopg.Connection[Any], point: str) -> None:
    pg_conn.execute(SMALL)
    p = cli(target, "backup", failpoint=point)
    assert p.returncode == KILLED
    ev = names(target)
    assert "backup_finished" not in ev
    files = sorted(x.name for x in target.backup_dir.iterdir())
    finals = [n for n in files if n.endswith(".dump")]
    renamed = point in ("backup.after_rename", "manifest.mid_write@3")
    assert bool(finals) is renamed, files  # never a final name before verification
    # the gate never takes it: the manifest does not say verified
    with target.connect("test") as c:
        assert latest_verified_backup(target, c) is None
    listed = {b.path.name: b.state for b in list_backups(target.backup_dir)}
    if renamed:
        assert listed[finals[0]] == "unverified"  # the truth: not recorded as verified
    b = cli(target, "backups", "--json")
    assert b.returncode == 0, b.stderr
    left = json.loads(b.stdout)["leftovers"]
    if not renamed:
        assert left, files  # the partial file and its manifest, or the half-written one
    r = cli(target, "backups", "--remove-leftovers")
    assert r.returncode == 0, r.stderr
    rest = sorted(x.name for x in target.backup_dir.iterdir())
    assert [n for n in rest if n.endswith((".partial", ".tmp"))] == []
    # the next backup works and is the one the gate takes
    again = cli(target, "backup")
    assert again.returncode == 0, again.stderr
    with target.connect("test") as c:
        assert latest_verified_backup(target, c) is not None
    if renamed:  # verify-backup turns the interrupted one into a verified one
        v = cli(target, "verify-backup", str(target.backup_dir / finals[0]))
        assert v.returncode == 0, v.stdout + v.stderr


# ---------------------------------------------------------------------------------------------
# the migration runner (migrate, and the down rollback)
# ---------------------------------------------------------------------------------------------
def _mig(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "migrations"
    d.mkdir(exist_ok=True)
    for n, body in files.items():
        (d / n).write_text(body)
    return d


@pytest.mark.parametrize("point", covers("runner.after_commit"))
def test_runner_killed_after_a_commit(target: Target, tmp_path: Path, point: str) -> None:
    t = replace(target, migrations_dir=_mig(tmp_path, {
        "001_a.sql": "CREATE TABLE a (id int);", "002_b.sql": "CREATE TABLE b (id int);"}))
    p = cli(t, "migrate", "--yes", "--without-backup", "fault matrix", failpoint=point)
    assert p.returncode == KILLED
    assert ledger(t) == ["001_a.sql"]
    ev = [r for r in events(t) if r.get("event") == "migrate_file_finished"]
    assert ev == []  # the kill came before the journal line...
    notes = app_notices(t, "committed per the ledger")  # ...the app takes the ledger's word
    assert any("committed per the ledger: 001_a.sql" in n for n in notes), notes
    assert any("the kill came after the COMMIT of 001_a.sql" in n for n in notes), notes
    assert "committed per the ledger: 001_a.sql" in report(t)
    p = cli(t, "migrate", "--yes", "--json", "--without-backup", "fault matrix")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["committed"] == ["002_b.sql"]
    assert ledger(t) == ["001_a.sql", "002_b.sql"]


@pytest.mark.parametrize("point", covers("runner.after_statement"))
def test_runner_killed_after_a_statement_of_a_non_transactional_file(
        target: Target, pg_conn: psycopg.Connection[Any], tmp_path: Path, point: str) -> None:
    pg_conn.execute("CREATE TABLE t (x int, y int)")
    t = replace(target, migrations_dir=_mig(tmp_path, {"001_idx.sql": (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_y ON t (y);\n")}))
    p = cli(t, "migrate", "--yes", "--without-backup", "fault matrix", failpoint=point)
    assert p.returncode == KILLED
    assert ledger(t) == []
    st = cli(t, "status")
    assert st.returncode == 0, st.stderr
    assert "not in a transaction block (non_transactional)" in st.stderr, st.stderr
    assert "server rolled back" not in st.stderr
    p = cli(t, "migrate", "--yes", "--without-backup", "fault matrix")
    assert p.returncode == 0, p.stdout + p.stderr
    assert ledger(t) == ["001_idx.sql"]
    assert pg_conn.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = "
                           "'t'::regclass").fetchone() == (True,)


@pytest.mark.parametrize("point", covers("runner.cic_started"))
def test_runner_killed_inside_a_concurrent_index_build(
        target: Target, pg_conn: psycopg.Connection[Any], pg_db: dict[str, str],
        tmp_path: Path, point: str) -> None:
    pg_conn.execute("CREATE TABLE t (x int)")
    pg_conn.execute("INSERT INTO t SELECT g FROM generate_series(1, 5000) g")
    t = replace(target, migrations_dir=_mig(tmp_path, {
        "001_idx.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n"}))
    holder = psycopg.connect(make_conninfo(**pg_db), autocommit=False)  # an old snapshot: the build waits
    holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    holder.execute("SELECT 1")
    try:
        p = cli(t, "migrate", "--yes", "--without-backup", "fault matrix", failpoint=point)
        assert p.returncode == KILLED
        wait_for(lambda: scalar(pg_conn,
            "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE "
            "'nchat-tui migrate%%'"), what="the server to end the orphan")
    finally:
        holder.close()
    assert pg_conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                           "'t_x'::regclass").fetchone() == (False,)
    notes = app_notices(t, "invalid index")
    assert any("invalid index: public.t_x" in n for n in notes), notes
    assert not any("server rolled back" in n for n in notes)
    p = cli(t, "migrate", "--yes", "--without-backup", "fault matrix")
    assert p.returncode == 1 and ledger(t) == []
    assert "DROP INDEX CONCURRENTLY public.t_x" in p.stdout
    p = cli(t, "migrate", "--yes", "--without-backup", "fault matrix",
            "--rebuild-invalid-indexes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert ledger(t) == ["001_idx.sql"]


@pytest.mark.parametrize("point", covers("down.after_run"))
def test_down_rollback_killed(target: Target, tmp_path: Path, point: str) -> None:
    from nchat_tui.backup.engine import run_backup

    t = replace(target, migrations_dir=_mig(tmp_path, {
        "001_a.sql": "CREATE TABLE a (id int);", "002_b.sql": "CREATE TABLE b (id int);",
        "002_b.down.sql": "DROP TABLE b;"}))
    assert cli(t, "migrate", "--yes", "--without-backup", "x", "--to", "001").returncode == 0
    time.sleep(1.05)  # backups are ordered against the ledger by the second
    first = run_backup(t).manifest_path
    assert cli(t, "migrate", "--yes", "--without-backup", "x").returncode == 0
    time.sleep(1.05)
    run_backup(t)  # the down path is gated like the up path
    p = cli(t, "rollback", "--down", "--yes", "--against", str(first), failpoint=point)
    assert p.returncode == KILLED
    assert ledger(t) == ["001_a.sql"]  # the down file ran and its ledger row went with it
    ev = names(t)
    assert "rollback_down_started" in ev and "rollback_down_finished" not in ev
    assert ev[-1] == "migrate_finished"  # the run itself was journaled whole
    rep = report(t)
    assert "rollback_down_started" in rep and "rollback_down_finished" not in rep
    # the recovery: the comparison that did not happen, run again (nothing left to revert)
    time.sleep(1.05)
    run_backup(t)
    p = cli(t, "rollback", "--down", "--yes", "--json", "--against", str(first))
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["run"]["status"] == "nothing_to_do" and out["inventory_equal"]


# ---------------------------------------------------------------------------------------------
# removing leftovers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", covers("leftovers.after_first"))
def test_remove_leftovers_killed(target: Target, point: str) -> None:
    bd = target.backup_dir
    bd.mkdir(parents=True)
    dead = 2 ** 22 + 7  # beyond pid_max on most systems: never a live process
    for i in (1, 2):
        stem = f"x_2026010{i}_000000"
        (bd / f"{stem}.partial").write_bytes(b"PGDMP half")
        (bd / f"{stem}.manifest.json").write_text(json.dumps({
            "manifest_version": 1, "state": "running", "pid": dead, "pid_started": "1",
            "host": socket.gethostname(), "file": f"{stem}.dump", "temp_file": f"{stem}.partial",
            "format": "custom", "database": target.database, "started_at": f"2026-01-0{i}"}))
    p = cli(target, "backups", "--remove-leftovers", failpoint=point)
    assert p.returncode == KILLED
    left = sorted(x.name for x in bd.iterdir())
    assert len(left) == 3  # one file went, the rest is still there...
    assert "leftovers_removed" not in names(target)
    b = cli(target, "backups", "--json")
    assert len(json.loads(b.stdout)["leftovers"]) == 2  # ...and still listed (one half-gone)
    p = cli(target, "backups", "--remove-leftovers")
    assert p.returncode == 0, p.stderr
    assert list(bd.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# the rehearsal
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", covers("rehearse.after_restore", "rehearse.after_up"))
def test_rehearse_killed(target: Target, pg_conn: psycopg.Connection[Any], tmp_path: Path,
                         point: str) -> None:
    from nchat_tui.backup.engine import run_backup

    pg_conn.execute(SMALL)
    t = replace(target, migrations_dir=_mig(tmp_path, {
        "001_a.sql": "CREATE TABLE a (id int);", "001_a.down.sql": "DROP TABLE a;"}))
    run_backup(t)
    try:
        p = cli(t, "rehearse", failpoint=point)
        assert p.returncode == KILLED
        scratch = [r for r in events(t) if r.get("event") == "rehearse_started"][-1][
            "scratch_database"]
        assert scratch in databases(t)
        assert ledger(t) == [] and count(t) == 500  # production untouched
        assert scratch in leftover_dbs(t)
        assert any(scratch in lo.database for lo in UpgradeSession(t).leftovers()
                   if lo.database)  # the app's leftover offer lists it too
        p = cli(t, "backups", "--remove-leftovers")
        assert p.returncode == 0, p.stderr
        assert scratch not in databases(t)
    finally:
        drop_all_like(t, t.database[:36] + "_rehearse_")


def test_fault_matrix_points_are_named_in_the_reliability_doc() -> None:
    doc = (REPO / "docs" / "RELIABILITY.md").read_text()
    missing = [p for p in REGISTRY if f"`{p}`" not in doc]
    assert not missing, missing
