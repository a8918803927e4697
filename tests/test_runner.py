"""The migration runner on a real PostgreSQL: atomicity, the lock, lock waits, crashes, ledgers."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.cli.main import main
from nchat_tui.errors import LockHeld, OperationFailed, Refused
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.runner import (
    TERMINATE_BLOCKER,
    LockDecision,
    LockWait,
    RunCallbacks,
    RunEvent,
    Runner,
    RunOptions,
    interrupted_run,
    run_migrations,
)
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal

Conn = psycopg.Connection[Any]
REPO = Path(__file__).resolve().parent.parent


def _folder(tmp_path: Path, files: dict[str, str], name: str = "migrations") -> Path:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    for n, body in files.items():
        (d / n).write_text(body)
    return d


def _run(target: Target, d: Path, **kw: Any) -> Any:
    cbs = kw.pop("callbacks", None)
    journal = kw.pop("journal", None)
    opts = RunOptions(migrations_dir=d, without_backup=kw.pop("without_backup", "test run"), **kw)
    return run_migrations(target, opts, cbs, journal)


def _exists(conn: Conn, rel: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (rel,)).fetchone()
    return bool(row and row[0])


def _go_ledger(conn: Conn) -> tuple[list[tuple[str, ...]], list[tuple[Any, ...]]]:
    sv = conn.execute("SELECT name FROM np_common.schema_versions ORDER BY name").fetchall()
    ops = conn.execute("SELECT id, name, checksum FROM nself_ops.migrations ORDER BY id").fetchall()
    return sv, ops


def test_applies_in_numeric_order_and_writes_the_go_ledger(target: Target, pg_conn: Conn,
                                                           tmp_path: Path) -> None:
    d = _folder(tmp_path, {
        "003_base.sql": "CREATE TABLE base (id int PRIMARY KEY);",
        "00013_more.sql": "CREATE TABLE more (id int REFERENCES base (id));",
        "20260203070900_ts.up.sql": "ALTER TABLE more ADD COLUMN note text;",
        "20260203070900_ts.down.sql": "ALTER TABLE more DROP COLUMN note;",
    })
    events: list[RunEvent] = []
    res = _run(target, d, callbacks=RunCallbacks(on_event=events.append))
    assert res.status == "ok" and res.exit_code == 0
    assert res.committed() == ["003_base.sql", "00013_more.sql", "20260203070900_ts.up.sql"]
    assert res.ledger_kinds == ["go"]
    # exactly what the nself Go CLI writes: schema_versions.name = file name;
    # nself_ops.migrations id = prefix before the first "_", name, sha256 of the file
    files = discover(d).files
    sv, ops = _go_ledger(pg_conn)
    assert sv == sorted((f.name,) for f in files)
    assert ops == sorted((f.ledger_id, f.name, f.sha256()) for f in files)
    extra = pg_conn.execute("SELECT applied_by, duration_ms, rolled_back_at "
                            "FROM nself_ops.migrations").fetchall()
    assert all(a and a.startswith("nchat-tui") and ms is not None and rb is None
               for a, ms, rb in extra)
    finished = [e for e in events if e.kind == "statement_finished"]
    assert [(e.file, e.statement, e.done, e.total) for e in finished] == [
        ("003_base.sql", 1, 1, 3), ("00013_more.sql", 1, 2, 3),
        ("20260203070900_ts.up.sql", 1, 3, 3)]
    assert all(e.duration_ms is not None for e in finished)
    # a second run has nothing to do
    assert _run(target, d).status == "nothing_to_do"


def test_syntax_error_in_second_statement_runs_nothing(target: Target, pg_conn: Conn,
                                                      tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);\n\nCREAT TABLE b (id int);\n"})
    with pytest.raises(OperationFailed) as ei:
        _run(target, d)
    assert "line 3" in ei.value.message and "nothing was run" in ei.value.message
    assert not _exists(pg_conn, "a")
    assert not _exists(pg_conn, "np_common.schema_versions")


def test_error_in_second_statement_leaves_no_trace(target: Target, pg_conn: Conn,
                                                  tmp_path: Path) -> None:
    d = _folder(tmp_path, {
        "001_ok.sql": "CREATE TABLE ok1 (id int);",
        "002_bad.sql": "CREATE TABLE a (id int);\nINSERT INTO a\n  SELECT * FROM missing_table;\n",
    })
    # the preflight names missing_table before anything runs; run anyway to see the failure
    res = _run(target, d, accept_preflight="test: the runner's own failure path")
    assert res.status == "failed" and res.exit_code == 1
    assert res.committed() == ["001_ok.sql"] and res.rolled_back() == ["002_bad.sql"]
    assert res.error.file == "002_bad.sql" and res.error.statement == 2
    assert res.error.line == 3 and res.error.sqlstate == "42P01"
    bad = res.files[1]
    assert [s.status for s in bad.statements] == ["rolled_back", "failed"]
    assert _exists(pg_conn, "ok1") and not _exists(pg_conn, "a")
    assert _go_ledger(pg_conn)[0] == [("001_ok.sql",)]


def test_own_begin_commit_is_one_transaction_with_its_ledger_row(target: Target, pg_conn: Conn,
                                                                 tmp_path: Path) -> None:
    d = _folder(tmp_path, {
        "001_tx.sql": "BEGIN;\nCREATE TABLE t1 (id int);\nINSERT INTO t1 VALUES (1);\nCOMMIT;\n",
        "002_tx_bad.sql": "BEGIN;\nCREATE TABLE t2 (id int);\nSELECT 1/0;\nCOMMIT;\n",
    })
    res = _run(target, d)
    assert res.files[0].mode == "own_transaction" and res.files[0].status == "committed"
    assert res.files[1].status == "rolled_back" and res.error.line == 3
    assert _exists(pg_conn, "t1") and not _exists(pg_conn, "t2")
    assert _go_ledger(pg_conn)[0] == [("001_tx.sql",)]
    # the file's own COMMIT was not sent: the ledger row committed with the same transaction
    xmins = pg_conn.execute(
        "SELECT (SELECT xmin::text FROM t1), (SELECT xmin::text FROM np_common.schema_versions "
        "WHERE name = '001_tx.sql'), (SELECT xmin::text FROM nself_ops.migrations "
        "WHERE id = '001_tx')").fetchone()
    assert xmins is not None and len(set(xmins)) == 1


def test_rollback_guard_is_refused_unless_confirmed(target: Target, pg_conn: Conn,
                                                   tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_guard.sql": "BEGIN;\nCREATE TABLE g (id int);\nROLLBACK;\n"})
    with pytest.raises(Refused) as ei:
        _run(target, d)
    assert "ROLLBACK" in ei.value.message and "nothing was run" in ei.value.message
    assert not _exists(pg_conn, "np_common.schema_versions")
    res = _run(target, d, confirm_as_written=("001_guard.sql",))
    assert res.status == "ok" and res.files[0].mode == "rollback_guard"
    assert [s.status for s in res.files[0].statements] == ["rolled_back", "rolled_back",
                                                           "rolled_back"]
    assert not _exists(pg_conn, "g")  # run as written: its ROLLBACK threw the work away
    assert _go_ledger(pg_conn)[0] == [("001_guard.sql",)]


def test_bash_ledger_is_written_by_version(target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    pg_conn.execute("CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, "
                    "name TEXT, applied_at TIMESTAMPTZ DEFAULT now())")
    pg_conn.execute("INSERT INTO schema_migrations VALUES (3, '003_base.sql', now())")
    d = _folder(tmp_path, {"003_base.sql": "CREATE TABLE base (id int);",
                           "0007_x.sql": "CREATE TABLE x (id int);"})
    res = _run(target, d)
    assert res.ledger_kinds == ["bash"] and res.committed() == ["0007_x.sql"]
    assert not _exists(pg_conn, "base")  # recorded as applied: not run again
    assert pg_conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall() == [
        (3, "003_base.sql"), (7, "0007_x.sql")]
    assert not _exists(pg_conn, "np_common.schema_versions")


def test_down_reverts_in_reverse_order_and_forgets_the_rows(target: Target, pg_conn: Conn,
                                                           tmp_path: Path) -> None:
    d = _folder(tmp_path, {
        "001_a.sql": "CREATE TABLE a (id int);", "001_a.down.sql": "DROP TABLE a;",
        "20260101000000_b.up.sql": "CREATE TABLE b (id int);",
        "20260101000000_b.down.sql": "DROP TABLE b;",
        "20260102000000_c.up.sql": "CREATE TABLE c (id int);",
        "20260102000000_c.down.sql": "DROP TABLE c;",
    })
    assert _run(target, d).status == "ok"
    res = _run(target, d, direction="down")  # without --to: the last applied file only
    assert res.committed() == ["20260102000000_c.down.sql"]
    assert not _exists(pg_conn, "c") and _exists(pg_conn, "b")
    res = _run(target, d, direction="down", to_version="001")
    assert res.committed() == ["20260101000000_b.down.sql"]
    assert _go_ledger(pg_conn) == ([("001_a.sql",)], [
        ("001_a", "001_a.sql", discover(d).files[0].sha256())])
    assert _exists(pg_conn, "a") and not _exists(pg_conn, "b")


def test_down_without_down_file_is_refused(target: Target, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    _run(target, d)
    with pytest.raises(Refused, match="no down file"):
        _run(target, d, direction="down")


def test_non_transactional_failure_lists_and_drops_invalid_index(target: Target, pg_conn: Conn,
                                                                tmp_path: Path) -> None:
    pg_conn.execute("CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1);")
    d = _folder(tmp_path, {"001_idx.sql": "CREATE TABLE side (id int);\n"
                                          "CREATE UNIQUE INDEX CONCURRENTLY dup_v ON dup (v);\n"})
    offered: list[list[str]] = []

    def offer(bad: list[Any]) -> bool:
        offered.append([b.index for b in bad])
        return True

    res = _run(target, d, callbacks=RunCallbacks(offer_cleanup=offer))
    fo = res.files[0]
    assert fo.mode == "non_transactional" and fo.status == "partial"
    assert [s.status for s in fo.statements] == ["committed", "failed"]
    assert res.error.sqlstate == "23505" and res.error.line == 2
    assert offered == [["public.dup_v"]] and res.dropped_indexes == ["public.dup_v"]
    assert _exists(pg_conn, "side") and not _exists(pg_conn, "dup_v")
    assert _go_ledger(pg_conn)[0] == []


def _idle_in_transaction_holder(pg_db: dict[str, str]) -> psycopg.Connection[Any]:
    holder = psycopg.connect(make_conninfo(**pg_db), application_name="app-worker")
    holder.execute("SELECT count(*) FROM busy")  # ACCESS SHARE kept: idle in transaction
    return holder


def test_lock_wait_path_shows_the_idle_in_transaction_blocker(target: Target, pg_conn: Conn,
                                                              pg_db: dict[str, str],
                                                              tmp_path: Path) -> None:
    pg_conn.execute("CREATE TABLE busy (id int)")
    d = _folder(tmp_path, {"001_alter.sql": "CREATE TABLE other (id int);\n"
                                            "ALTER TABLE busy ADD COLUMN c int;\n"})
    holder = _idle_in_transaction_holder(pg_db)
    seen: list[LockWait] = []

    def on_lock_wait(lw: LockWait) -> LockDecision:
        seen.append(lw)
        return LockDecision(TERMINATE_BLOCKER)

    try:
        res = _run(target, d, lock_timeout_s=0.5,
                   callbacks=RunCallbacks(on_lock_wait=on_lock_wait))
    finally:
        holder.close()
    assert res.status == "ok" and res.committed() == ["001_alter.sql"]
    assert len(seen) == 1
    lw = seen[0]
    assert (lw.file, lw.statement, lw.line, lw.rolled_back_file) == ("001_alter.sql", 2, 2, True)
    assert [(b.application, b.state) for b in lw.blockers] == [("app-worker",
                                                                "idle in transaction")]
    assert res.files[0].attempts == 2


def test_headless_lock_wait_gives_up_with_blockers(target: Target, pg_conn: Conn,
                                                   pg_db: dict[str, str], tmp_path: Path) -> None:
    pg_conn.execute("CREATE TABLE busy (id int)")
    d = _folder(tmp_path, {"001_alter.sql": "ALTER TABLE busy ADD COLUMN c int;"})
    holder = _idle_in_transaction_holder(pg_db)
    try:
        res = _run(target, d, lock_timeout_s=0.3, retries=1)
    finally:
        holder.close()
    assert res.status == "stopped" and res.exit_code == 1
    assert res.files[0].status == "rolled_back" and res.files[0].attempts == 2
    d2 = res.to_dict()
    assert d2["blockers"][0]["application"] == "app-worker"
    assert d2["error"]["sqlstate"] == "55P03"
    assert _go_ledger(pg_conn)[0] == []


def test_concurrent_runner_exits_4_while_create_index_concurrently_completes(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    pg_conn.execute("""
        CREATE FUNCTION slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
          $$ BEGIN PERFORM pg_sleep(0.001); RETURN i; END $$;
        CREATE TABLE big (id int);
        INSERT INTO big SELECT generate_series(1, 1500);
    """)
    d = _folder(tmp_path, {"001_idx.sql": "CREATE INDEX CONCURRENTLY big_slow ON big "
                                          "(slow_key(id));\n"})
    first: dict[str, Any] = {}
    t = threading.Thread(target=lambda: first.update(res=_run(target, d)))
    t.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = pg_conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                  "AND query LIKE 'CREATE INDEX CONCURRENTLY%'").fetchone()
            if row and row[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first runner never started its CREATE INDEX CONCURRENTLY")
        t0 = time.monotonic()
        with pytest.raises(LockHeld) as ei:
            _run(target, d)
        assert time.monotonic() - t0 < 2.0
        assert "nchat-tui migrate (lock)" in ei.value.message and "pid" in ei.value.message
        still = pg_conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                "AND query LIKE 'CREATE INDEX CONCURRENTLY%'").fetchone()
        assert still == (1,)  # the second runner came and went while the build ran
    finally:
        t.join(timeout=120)
    assert first["res"].status == "ok"
    valid = pg_conn.execute("SELECT indisvalid FROM pg_index "
                            "WHERE indexrelid = 'big_slow'::regclass").fetchone()
    assert valid == (True,)
    assert pg_conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)


def test_cli_lock_held_exit_4_names_the_holder(target: Target, pg_db: dict[str, str],
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    with psycopg.connect(make_conninfo(**pg_db), autocommit=True,
                         application_name="other-runner") as other:
        other.execute("SELECT pg_advisory_lock(hashtext('nself:migrations'))")
        rc = main(["--dsn", target.conninfo(), "--migrations", str(d), "--state-dir",
                   str(tmp_path / "state"), "migrate", "--yes", "--without-backup", "t"])
        pid = other.info.backend_pid
    err = capsys.readouterr().err
    assert rc == 4
    assert f"pid {pid}" in err and "other-runner" in err and "since" in err
    assert "test-secret-pw" not in err


def test_gate_refuses_without_a_verified_backup(target: Target, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    rc = main(["--dsn", target.conninfo(), "--migrations", str(d), "--state-dir",
               str(tmp_path / "state"), "--backup-dir", str(tmp_path / "nobackups"),
               "migrate", "--yes"])
    assert rc == 3
    assert "no verified backup" in capsys.readouterr().err


def test_gate_refuses_while_pg_dump_runs(target: Target, pg_db: dict[str, str],
                                         tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    with psycopg.connect(make_conninfo(**pg_db), application_name="pg_dump") as dumper:
        dumper.execute("SELECT 1")
        with pytest.raises(Refused, match="pg_dump is reading"):
            _run(target, d, without_backup="urgent fix")


def test_without_backup_reason_is_journaled(target: Target, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    j = Journal(tmp_path / "j.jsonl")
    _run(target, d, without_backup="hotfix approved by Ana", journal=j)
    rec = j.last("migrate_gate_override")
    assert rec is not None and rec["reason"] == "hotfix approved by Ana"
    stmts = [r for r in j.records() if r["event"] == "migrate_statement_finished"]
    assert [(r["file"], r["statement"], r["status"]) for r in stmts] == [
        ("001_a.sql", 1, "ran")]
    assert j.last("migrate_file_finished")["status"] == "committed"  # type: ignore[index]


def test_no_tty_without_yes_refuses(target: Target, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    rc = main(["--dsn", target.conninfo(), "--migrations", str(d), "migrate"])
    assert rc == 3


def _cli_env(pg_db: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = pg_db["password"]
    return env


def test_kill_9_mid_run_then_restart_shows_what_committed(pg_db: dict[str, str], pg_conn: Conn,
                                                          tmp_path: Path) -> None:
    d = _folder(tmp_path, {
        "001_a.sql": "CREATE TABLE a (id int);",
        "002_b.sql": "CREATE TABLE b (id int);\nSELECT pg_sleep(60);\n",
        "003_c.sql": "CREATE TABLE c (id int);",
    })
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items() if k != "password")
    argv = [sys.executable, "-m", "nchat_tui", "--dsn", dsn, "--migrations", str(d),
            "--state-dir", str(tmp_path / "state"), "migrate", "--yes", "--json",
            "--without-backup", "kill test"]
    proc = subprocess.Popen(argv, env=_cli_env(pg_db), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = pg_conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                  "AND query LIKE 'SELECT pg_sleep(60)%'").fetchone()
            if row and row[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the runner never reached the second statement of 002_b.sql")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the server notices the dead client (client_connection_check_interval) and rolls back
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = pg_conn.execute("SELECT count(*) FROM pg_stat_activity "
                              "WHERE application_name LIKE 'nchat-tui migrate%'").fetchone()
        if row == (0,):
            break
        time.sleep(0.1)
    assert _exists(pg_conn, "a") and not _exists(pg_conn, "b") and not _exists(pg_conn, "c")
    assert pg_conn.execute("SELECT name FROM np_common.schema_versions").fetchall() == [
        ("001_a.sql",)]
    # restart (the sleep removed): the earlier run is reported exactly, then the rest applies
    (d / "002_b.sql").write_text("CREATE TABLE b (id int);\n")
    out = subprocess.run(argv, env=_cli_env(pg_db), capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    prev = doc["previous_interrupted_run"]
    assert prev["files_committed"] == ["001_a.sql"]
    assert prev["running"]["file"] == "002_b.sql" and prev["running"]["statement"] == 2
    assert doc["committed"] == ["002_b.sql", "003_c.sql"]
    assert "test-secret-pw" not in out.stdout + out.stderr
    journals = [Journal(p) for p in (tmp_path / "state" / "sessions").glob("*/journal.jsonl")]
    ours = [j for j in journals if j.last("migrate_started") is not None]
    assert len(ours) == 1 and interrupted_run(ours[0]) is None  # the restart finished cleanly


def test_gate_passes_after_a_verified_backup_and_not_after_a_newer_change(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    from nchat_tui.backup.engine import run_backup

    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    pg_conn.execute("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1);")
    run_backup(target, verify=True, check_space=False)
    res = _run(target, d, without_backup=None)
    assert res.status == "ok" and res.gate["backup"].endswith(".dump")
    # the ledger changed after that backup: the next run needs a new one
    (d / "002_b.sql").write_text("CREATE TABLE b (id int);")
    with pytest.raises(Refused, match="older than the ledger's latest change"):
        _run(target, d, without_backup=None)
    assert not _exists(pg_conn, "b")


def test_gate_refuses_a_backup_from_before_a_down_run(target: Target, pg_conn: Conn,
                                                     tmp_path: Path) -> None:
    """A down run deletes ledger rows, so no timestamp moves forward: the gate compares the
    ledger rows the backup recorded with the ledger now."""
    import time

    from nchat_tui.backup.engine import run_backup

    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);",
                           "001_a.down.sql": "DROP TABLE a;"})
    assert _run(target, d, without_backup="first file of a new database").status == "ok"
    time.sleep(1.05)  # the gate compares whole seconds
    run_backup(target, verify=True, check_space=False)
    assert _run(target, d, direction="down", without_backup=None).status == "ok"
    assert not _exists(pg_conn, "a")
    with pytest.raises(Refused, match=r"taken at another migration state: .*1 gone since"):
        _run(target, d, without_backup=None)
    assert not _exists(pg_conn, "a")


def test_gate_compares_ledger_instants_not_their_time_zone(target: Target, pg_conn: Conn,
                                                          tmp_path: Path) -> None:
    """The backup's connection and the gate's may have different TimeZone settings."""
    import time

    from nchat_tui.backup.engine import run_backup

    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    assert _run(target, d, without_backup="first file of a new database").status == "ok"
    time.sleep(1.05)
    run_backup(target, verify=True, check_space=False)  # ledger rows recorded in UTC
    pg_conn.execute(f'ALTER DATABASE "{target.database}" SET TimeZone = \'Asia/Kolkata\'')
    (d / "002_b.sql").write_text("CREATE TABLE b (id int);")
    res = _run(target, d, without_backup=None)  # ledger read in +05:30 now: same instants
    assert res.status == "ok", res.to_dict()
    assert _exists(pg_conn, "b")


def test_session_state_does_not_leak_between_files(target: Target, pg_conn: Conn,
                                                   tmp_path: Path) -> None:
    pg_conn.execute("CREATE SCHEMA other")
    d = _folder(tmp_path, {
        "001_path.sql": "SET search_path = other;\nCREATE TABLE in_other (v text);\n"
                        "INSERT INTO in_other SELECT 'a%b' WHERE 'a%b' LIKE '%\\%%' ESCAPE '\\';\n",
        "002_plain.sql": "CREATE TABLE in_public (id int);\n",
    })
    res = _run(target, d)
    assert res.status == "ok", res.to_dict()
    assert _exists(pg_conn, "other.in_other") and _exists(pg_conn, "public.in_public")
    assert pg_conn.execute("SELECT v FROM other.in_other").fetchall() == [("a%b",)]
    assert _go_ledger(pg_conn)[0] == [("001_path.sql",), ("002_plain.sql",)]


def test_older_go_ledger_shape_is_completed_and_written(target: Target, pg_conn: Conn,
                                                        tmp_path: Path) -> None:
    """An older CLI's nself_ops.migrations (id, name, checksum, applied_at) without
    np_common.schema_versions: the runner creates the missing table as the Go CLI does on every
    run, and writes only the columns the old table has."""
    pg_conn.execute("CREATE SCHEMA nself_ops; CREATE TABLE nself_ops.migrations (id TEXT PRIMARY "
                    "KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT "
                    "NULL DEFAULT now())")
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    res = _run(target, d)
    assert res.status == "ok" and res.ledger_kinds == ["go"]
    f = discover(d).files[0]
    assert _go_ledger(pg_conn) == ([("001_a.sql",)], [("001_a", "001_a.sql", f.sha256())])


def test_demo_013_to_016_up_then_down(target: Target, pg_db: dict[str, str], pg_conn: Conn) -> None:
    """The demo's v0.4.0 migrations apply with correct checksums and revert with their downs."""
    from nchat_tui.demo.builder import default_migrations_dir, load_demo

    mdir = default_migrations_dir()
    load_demo(pg_db, scale=0.02, migrations_dir=mdir)
    before = _go_ledger(pg_conn)
    res = _run(target, mdir)
    assert res.status == "ok", res.to_dict()
    assert res.committed() == ["013_e2ee_system.sql", "014_e2ee_system.sql",
                               "015_voice_calls.sql", "016_live_streaming.sql"]
    by = {f.name: f for f in discover(mdir).files}
    ops = dict((n, c) for _, n, c in _go_ledger(pg_conn)[1])
    assert all(ops[n] == by[n].sha256() for n in res.committed())
    res = _run(target, mdir, direction="down", to_version="012")
    assert res.status == "ok" and len(res.committed()) == 4
    assert _go_ledger(pg_conn) == before


def test_statement_timeout_fails_the_file_cleanly(target: Target, pg_conn: Conn,
                                                  tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_slow.sql": "CREATE TABLE s (id int);\nSELECT pg_sleep(5);\n"})
    res = _run(target, d, statement_timeout_s=0.2)
    assert res.status == "failed" and res.error.sqlstate == "57014"
    assert res.error.line == 2 and "statement timeout" in res.error.message
    assert not _exists(pg_conn, "s") and res.rolled_back() == ["001_slow.sql"]


def test_app_mode_waits_for_the_migration_lock(target: Target, pg_db: dict[str, str],
                                               tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    other = psycopg.connect(make_conninfo(**pg_db), autocommit=True, application_name="other")
    other.execute("SELECT pg_advisory_lock(hashtext('nself:migrations'))")
    threading.Timer(1.5, other.close).start()
    events: list[RunEvent] = []
    res = _run(target, d, wait_for_lock_s=30, callbacks=RunCallbacks(on_event=events.append))
    assert res.status == "ok"
    waits = [e for e in events if e.kind == "lock_waiting"]
    assert waits and "'other'" in (waits[0].message or "")
    assert [e.kind for e in events].index("lock_acquired") > [e.kind for e in events].index(
        "lock_waiting")


def test_stop_between_files(target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);",
                           "002_b.sql": "CREATE TABLE b (id int);"})
    done: list[str] = []
    cbs = RunCallbacks(on_event=lambda e: done.append(e.file or "") if e.kind == "file_committed"
                       else None, should_stop=lambda: bool(done))
    res = _run(target, d, callbacks=cbs)
    assert res.status == "stopped" and res.exit_code == 1
    assert res.committed() == ["001_a.sql"] and [f.status for f in res.files] == ["committed",
                                                                                  "not_run"]
    assert _exists(pg_conn, "a") and not _exists(pg_conn, "b")


def test_non_transactional_retry_after_cleanup(target: Target, pg_conn: Conn,
                                               tmp_path: Path) -> None:
    pg_conn.execute("CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1);"
                    "CREATE TABLE old (v int); INSERT INTO old VALUES (2), (2);")
    with pytest.raises(psycopg.errors.UniqueViolation):  # an invalid index from before the run
        pg_conn.execute("CREATE UNIQUE INDEX CONCURRENTLY old_v ON old (v)")
    d = _folder(tmp_path, {"001_idx.sql": "CREATE TABLE side (id int);\n"
                                          "CREATE UNIQUE INDEX CONCURRENTLY dup_v ON dup (v);\n"})
    offered: list[list[str]] = []

    def offer(bad: list[Any]) -> bool:
        offered.append([b.index for b in bad])
        return True

    def retry(err: Any) -> bool:
        assert err.sqlstate == "23505"
        pg_conn.execute("DELETE FROM dup WHERE ctid = (SELECT max(ctid) FROM dup)")  # the fix
        return True

    res = _run(target, d, callbacks=RunCallbacks(offer_cleanup=offer, retry_failed=retry))
    assert offered == [["public.dup_v"]]  # the older invalid index is not ours to offer
    assert res.status == "ok" and res.committed() == ["001_idx.sql"]
    assert [s.status for s in res.files[0].statements] == ["committed", "committed"]
    assert pg_conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'dup_v'::regclass"
                           ).fetchone() == (True,)
    assert _go_ledger(pg_conn)[0] == [("001_idx.sql",)]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_asks_for_the_database_name_on_a_terminal(target: Target, pg_conn: Conn,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    argv = ["--dsn", target.conninfo(), "--migrations", str(d), "--state-dir",
            str(tmp_path / "state"), "migrate", "--without-backup", "terminal test"]
    monkeypatch.setattr(sys, "stdin", _Tty("wrong_name\n"))
    assert main(argv) == 3 and not _exists(pg_conn, "a")
    monkeypatch.setattr(sys, "stdin", _Tty(target.database + "\n"))
    assert main(argv) == 0 and _exists(pg_conn, "a")
    out = capsys.readouterr()
    assert "001_a.sql [atomic]" in out.out and "applied and committed: 001_a.sql" in out.out


def test_gate_refuses_while_our_own_backup_is_written(target: Target, pg_conn: Conn,
                                                      tmp_path: Path) -> None:
    from nchat_tui.backup.engine import run_backup

    pg_conn.execute("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1);")
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);"})
    started, release = threading.Event(), threading.Event()

    def on_progress(_p: Any) -> None:
        if list(target.backup_dir.glob("*.manifest.json")) and not started.is_set():
            started.set()  # the dump is under way: hold it here while migrate tries to run
            release.wait(30)

    t = threading.Thread(target=lambda: run_backup(target, verify=True, check_space=False,
                                                   on_progress=on_progress))
    t.start()
    try:
        assert started.wait(30)
        with pytest.raises(Refused, match="being written right now"):
            _run(target, d, without_backup="even with an override")
    finally:
        release.set()
        t.join(60)
    assert not _exists(pg_conn, "a")


def test_cancel_from_another_thread_rolls_the_file_back(target: Target, pg_conn: Conn,
                                                        tmp_path: Path) -> None:
    d = _folder(tmp_path, {"001_a.sql": "CREATE TABLE a (id int);",
                           "002_slow.sql": "CREATE TABLE s (id int);\nSELECT pg_sleep(30);\n"})
    runner: Runner | None = None

    def on_event(e: RunEvent) -> None:
        if e.kind == "statement_started" and e.file == "002_slow.sql" and e.statement == 2:
            assert runner is not None
            threading.Timer(0.3, runner.cancel_current).start()

    runner = Runner(target, RunOptions(migrations_dir=d, without_backup="t"),
                    RunCallbacks(on_event=on_event))
    t0 = time.monotonic()
    res = runner.run()
    assert time.monotonic() - t0 < 25  # cancelled, not slept through
    assert res.status == "failed" and res.error is not None and res.error.sqlstate == "57014"
    assert res.committed() == ["001_a.sql"] and res.rolled_back() == ["002_slow.sql"]
    assert _exists(pg_conn, "a") and not _exists(pg_conn, "s")
    assert runner.cancel_current() is False  # nothing runs any more
