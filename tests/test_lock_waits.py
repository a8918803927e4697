"""No hang without limit behind an ACCESS EXCLUSIVE lock (issue 9, item 10).

While another session holds ACCESS EXCLUSIVE on a table (a stuck migration), every read-only
command an operator runs then (rollback facts, verify, maintain, plan, the troubleshooting
trees) ends within its lock timeout with one line naming the lock, the relation and the
session holding it (exit 1: the operation failed cleanly and changed nothing), or answers
without needing that lock. A client killed while its query waits does not leave its backend
queued: ``client_connection_check_interval`` ends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.pg.guard import LockWaitTimeout, display, lock_guard, mode_name

HOLDER_APP = "stuck-migration"


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90
         ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([sys.executable, "-m", "nchat_tui", *args], capture_output=True,
                          text=True, cwd="/tmp", timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**base, "NCHAT_TUI_LOCK_TIMEOUT": "1", **(env or {})})


@pytest.fixture
def stuck(pg_db: dict[str, str], pg_conn: psycopg.Connection[Any], tmp_path: Path
          ) -> Iterator[dict[str, Any]]:
    """A database with a verified backup, one applied migration (its down file drops a column
    of ``t``), one pending, and then a session holding ACCESS EXCLUSIVE on ``t``."""
    pg_conn.execute("CREATE TABLE t (id int PRIMARY KEY, extra int, deleted_at timestamptz)")
    pg_conn.execute("INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 50) g")
    pg_conn.execute("CREATE TABLE other (id int)")
    pg_conn.execute("CREATE SCHEMA np_common")
    pg_conn.execute("CREATE TABLE np_common.schema_versions (name text PRIMARY KEY, "
                    "applied_at timestamptz DEFAULT now())")
    mdir = tmp_path / "migrations"
    mdir.mkdir()
    (mdir / "001_extra.sql").write_text("ALTER TABLE t ADD COLUMN IF NOT EXISTS extra int;\n")
    (mdir / "001_extra.down.sql").write_text("ALTER TABLE t DROP COLUMN extra;\n")
    (mdir / "002_more.sql").write_text("ALTER TABLE t ADD COLUMN more int;\n")
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    common = ["--dsn", dsn, "--migrations", str(mdir), "--backup-dir", str(tmp_path / "b"),
              "--state-dir", str(tmp_path / "s")]
    b = _cli("backup", "--json", *common)
    assert b.returncode == 0, b.stderr
    manifest = json.loads(b.stdout)["manifest"]
    pg_conn.execute("INSERT INTO np_common.schema_versions (name) VALUES ('001_extra.sql')")
    holder = psycopg.connect(make_conninfo(**pg_db), application_name=HOLDER_APP)
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # and stays in the transaction
    try:
        yield {"common": common, "manifest": manifest, "pid": holder.info.backend_pid,
               "pg_db": pg_db}
    finally:
        holder.close()


def _assert_names_the_lock(r: subprocess.CompletedProcess[str], pid: int,
                           relation: str = "public.t", mode: str = "ACCESS EXCLUSIVE") -> None:
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "Traceback" not in out
    line = r.stderr.strip().splitlines()
    assert len(line) == 1, r.stderr
    for want in (relation, mode, f"pid {pid}", HOLDER_APP, "gave up after 1s"):
        assert want in line[0], (want, line[0])


COMMANDS = {
    "rollback facts": ["rollback", "--json", "--against", "{m}"],
    "verify": ["verify", "--json", "--against", "{m}"],
    "maintain": ["maintain", "--json", "--against", "{m}"],
    "maintain --vacuum": ["maintain", "--vacuum", "--table", "public.t", "--yes", "--json"],
    "troubleshoot missing-data": ["troubleshoot", "missing-data", "--json", "--before", "{m}"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_that_needs_the_lock_names_it_and_its_holder(stuck: dict[str, Any],
                                                              name: str) -> None:
    args = [a.replace("{m}", stuck["manifest"]) for a in COMMANDS[name]]
    r = _cli(*args, *stuck["common"])
    if name.startswith("troubleshoot"):
        # a tree goes on after a failed step: the step says which lock stopped it
        tree = json.loads(r.stdout)["trees"]["missing-data"]
        counts = next(f for f in tree if f["check"] == "row_counts")
        assert counts["status"] == "error", counts
        for want in ("public.t", "ACCESS EXCLUSIVE", f"pid {stuck['pid']}", HOLDER_APP):
            assert want in counts["summary"], (want, counts)
        assert r.returncode == 1
        return
    _assert_names_the_lock(r, stuck["pid"])
    assert json.loads(r.stdout)["error"] == "lock_timeout"


@pytest.mark.parametrize("args", [["plan", "--json"],
                                  ["troubleshoot", "slow", "--json"],
                                  ["troubleshoot", "v040", "--json"],
                                  ["troubleshoot", "connection", "--json"],
                                  ["status", "--json"]],
                         ids=lambda a: " ".join(a[:2]))
def test_commands_that_read_only_the_catalog_answer_while_the_lock_is_held(
        stuck: dict[str, Any], args: list[str]) -> None:
    """These never need the locked table: they answer (a catalog read does not wait), and the
    slow tree reports the lock as the problem it is."""
    r = _cli(*args, *stuck["common"])
    assert "Traceback" not in r.stderr
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert "error" not in out or out.get("error") != "lock_timeout", out
    if args[:2] == ["troubleshoot", "slow"]:
        steps = out["trees"]["slow"]
        assert not [f for f in steps if f["status"] == "error"], steps


def test_vacuum_meets_the_lock_per_table(stuck: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each table is its own item: the one that met the lock failed, naming it and its holder;
    the next one was vacuumed."""
    from nchat_tui.pg.target import resolve_target
    from nchat_tui.verify.maintenance import vacuum_analyze

    monkeypatch.setenv("NCHAT_TUI_LOCK_TIMEOUT", "1")
    a = stuck["common"]
    target = resolve_target(dsn=a[1], backup_dir=a[5], state_dir=a[7], environ={})
    res = vacuum_analyze(target, ["public.t", "public.other"])
    assert [r.status for r in res] == ["failed", "done"], res
    for want in ("vacuum public.t: gave up after 1s", "public.t", "ACCESS EXCLUSIVE",
                 f"pid {stuck['pid']}", HOLDER_APP):
        assert want in res[0].detail, (want, res[0].detail)


def test_the_wait_is_bounded_by_the_lock_timeout_setting(stuck: dict[str, Any]) -> None:
    r = _cli("verify", "--against", stuck["manifest"], *stuck["common"],
             env={"NCHAT_TUI_LOCK_TIMEOUT": "2.5"})
    assert r.returncode == 1 and "gave up after 2.5s" in r.stderr, r.stderr
    bad = _cli("verify", "--against", stuck["manifest"], *stuck["common"],
               env={"NCHAT_TUI_LOCK_TIMEOUT": "nan"})
    assert bad.returncode == 2 and "NCHAT_TUI_LOCK_TIMEOUT" in bad.stderr, bad.stderr


def _backend_of(conn: psycopg.Connection[Any], app: str) -> tuple[int, str | None] | None:
    row = conn.execute("SELECT pid, wait_event_type FROM pg_stat_activity "
                       "WHERE application_name = %s", (app,)).fetchone()
    return (int(row[0]), row[1]) if row else None


def _wait_until(cond: Any, deadline_s: float = 60.0) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_killed_client_does_not_leave_its_backend_queued(stuck: dict[str, Any],
                                                          pg_conn: psycopg.Connection[Any]
                                                          ) -> None:
    """kill -9 of `nchat-tui verify` while its count waits behind ACCESS EXCLUSIVE: the
    backend notices its client is gone (client_connection_check_interval) and ends, instead
    of staying in the lock queue, where it would block everyone queued behind it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nchat_tui", "verify", "--against", stuck["manifest"],
         *stuck["common"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp",
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
             "NCHAT_TUI_LOCK_TIMEOUT": "600"})
    try:
        pid, _ = _wait_until(lambda: (b := _backend_of(pg_conn, "nchat-tui verify"))
                             and b[1] == "Lock" and b)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _wait_until(lambda: pg_conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                        (pid,)).fetchone() == (0,))


def test_lock_guard_message_without_a_guarded_connection(pg_conn: psycopg.Connection[Any],
                                                        pg_db: dict[str, str]) -> None:
    """The guard also works on any connection: the same connection looks when it can."""
    pg_conn.execute("CREATE TABLE locked (id int)")
    holder = psycopg.connect(make_conninfo(**pg_db), application_name=HOLDER_APP)
    holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
    try:
        pg_conn.execute("SET lock_timeout = '200ms'")
        with pytest.raises(LockWaitTimeout) as exc, lock_guard(pg_conn, "counting"):
            pg_conn.execute("SELECT count(*) FROM locked")
        msg = exc.value.message
        assert msg.startswith("counting: gave up waiting for a lock: public.locked is locked "
                              f"ACCESS EXCLUSIVE by pid {holder.info.backend_pid} "), msg
        assert exc.value.exit_code == 1
    finally:
        holder.close()


def test_names_are_shown_on_one_line() -> None:
    assert mode_name("AccessExclusiveLock") == "ACCESS EXCLUSIVE"
    assert mode_name("ShareUpdateExclusiveLock") == "SHARE UPDATE EXCLUSIVE"
    assert display("public", "t") == "public.t"
    assert display("Sché", 'a"b\nALTER ROLE x;--') == '"Sché"."a""b\\nALTER ROLE x;--"'
