"""Rollback on real PostgreSQL: the restore swap with application sessions open and another
thread polling the database by name throughout; a restore killed with SIGKILL; the down
rollback returning the schema inventory exactly; the decision facts."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.backup.engine import manifest_path_for, read_manifest, run_backup
from nchat_tui.cli.main import main
from nchat_tui.errors import NchatError, Refused
from nchat_tui.pg.snapshot import schema_inventory
from nchat_tui.pg.target import Target
from nchat_tui.rollback.engine import (
    admin_connect,
    down_rollback,
    drop_old_database,
    restore_swap,
    rollback_options,
)
from nchat_tui.verify.engine import diff_inventory, diff_is_empty
from tests.test_verify import backup_then_upgrade, prepare_v030, run_up


def _count(t: Target, table: str, dbname: str | None = None) -> int:
    with t.connect("test", dbname=dbname) as c:
        row = c.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def _databases(t: Target) -> dict[str, bool]:
    with admin_connect(t, "test") as a:
        return {r[0]: r[1] for r in a.execute("SELECT datname, datallowconn FROM pg_database")}


@pytest.fixture
def upgraded(target: Target, tmp_path: Path) -> tuple[Target, Path]:
    return backup_then_upgrade(target, tmp_path)


class Poller(threading.Thread):
    """Connects to the database by name again and again, as an application would."""

    def __init__(self, t: Target) -> None:
        super().__init__(daemon=True)
        self.t = t
        self.stop = threading.Event()
        self.samples: list[tuple[float, str, Any]] = []

    def run(self) -> None:
        conninfo = self.t.conninfo(connect_timeout="3", application_name="poller")
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                with psycopg.connect(conninfo, autocommit=True) as c:
                    row = c.execute("SELECT (SELECT count(*) FROM nchat_users), "
                                    "to_regclass('public.nchat_identity_keys') IS NOT NULL"
                                    ).fetchone()
                self.samples.append((now, "ok", row))
            except psycopg.OperationalError as exc:
                msg = str(exc)
                kind = ("missing" if "does not exist" in msg else
                        "refused" if "not currently accepting connections" in msg else
                        "terminated" if "terminat" in msg else "other")
                self.samples.append((now, kind, msg.splitlines()[-1] if msg else ""))
            time.sleep(0.005)

    def longest(self, kind: str) -> float:
        """Longest stretch of consecutive samples of ``kind`` (seconds)."""
        best, start = 0.0, None
        for ts, k, _ in self.samples:
            if k == kind:
                start = ts if start is None else start
                best = max(best, ts - start)
            else:
                start = None
        return best


def test_restore_swap_with_sessions_open_and_a_poller(upgraded: tuple[Target, Path]) -> None:
    t, dump = upgraded
    db = t.database
    with t.connect("test") as c:  # written after the backup: the restore loses it
        c.execute("INSERT INTO nchat_users (username) VALUES ('late')")
    assert _count(t, "nchat_users") == 41
    idle = t.connect("app idle")
    in_tx = t.connect("app in transaction", autocommit=False)
    in_tx.execute("SELECT 1 FROM nchat_users LIMIT 1")  # idle in transaction, holding a lock
    poller = Poller(t)
    poller.start()
    seen: list[dict[str, Any]] = []

    def confirm(name: str, sessions: list[dict[str, Any]]) -> str:
        seen.extend(sessions)
        return name

    try:
        time.sleep(0.2)
        res = restore_swap(t, dump, confirm_name=confirm)
        time.sleep(0.2)
    finally:
        poller.stop.set()
        poller.join(10)
    apps = {s["application_name"] for s in seen}
    assert {"app idle", "app in transaction"} <= apps
    assert {idle.info.backend_pid, in_tx.info.backend_pid} <= {c["pid"] for c in res.terminated}
    for conn in (idle, in_tx):
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
    # The before data and schema are back; the old database is kept under its new name.
    assert _count(t, "nchat_users") == 40
    manifest = read_manifest(manifest_path_for(dump))
    assert manifest is not None
    with t.connect("test") as c:
        assert diff_is_empty(diff_inventory(manifest["snapshot"]["inventory"],
                                            schema_inventory(c), include_ledgers=True))
    dbs = _databases(t)
    assert dbs[db] is True and dbs[res.old_database] is True
    assert res.old_database.endswith(res.old_database.rsplit("_before_rollback_", 1)[1])
    assert _count(t, "nchat_users", dbname=res.old_database) == 41
    assert not [d for d in dbs if re.search(r"_restore_\d{8}_\d{6}$", d)]
    # The poller: never half-restored; only the old or the restored database, in that order.
    oks = [s for s in poller.samples if s[1] == "ok"]
    assert {row for _, _, row in oks} <= {(41, True), (40, False)}
    assert oks[0][2] == (41, True) and oks[-1][2] == (40, False)
    last_old = max(ts for ts, _, row in oks if row == (41, True))
    first_new = min(ts for ts, _, row in oks if row == (40, False))
    assert last_old < first_new
    print(f"swap {res.swap_duration_s:.3f}s, restore {res.restore_duration_s:.3f}s, "
          f"{len(poller.samples)} polls, longest refused stretch "
          f"{poller.longest('refused'):.3f}s")
    # The two renames commit together, so <db> never stops existing. The one way a client can be
    # told "does not exist" is PostgreSQL's own login race: a login that looked the name up
    # before the rename committed and re-checks it after ("It seems to have just been dropped or
    # renamed"). That may happen only inside the swap window, never before or after it.
    missing = [s for s in poller.samples if s[1] == "missing"]
    for ts, _, detail in missing:
        assert "just been dropped or renamed" in detail, missing
        assert last_old < ts < first_new, missing
    assert len(missing) <= 2, missing
    assert poller.longest("refused") <= res.swap_duration_s + 0.5
    assert not [s for s in poller.samples if s[1] == "other"], poller.samples
    # The old database is dropped only when asked, with its name typed.
    with pytest.raises(Refused):
        drop_old_database(t, res.old_database, "wrong")
    with pytest.raises(Refused):
        drop_old_database(t, db, db)
    drop_old_database(t, res.old_database, res.old_database)
    assert res.old_database not in _databases(t)


def _child_pids(name: str) -> list[int]:
    me = os.getpid()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if comm == name and ppid == me:
            out.append(int(d.name))
    return out


def test_killed_restore_leaves_production_untouched(target: Target, tmp_path: Path) -> None:
    t = prepare_v030(target, tmp_path)
    with t.connect("test") as c:  # enough rows that pg_restore runs for a while
        c.execute("INSERT INTO nchat_audit_logs (action) SELECT md5(g::text) "
                  "FROM generate_series(1, 400000) g")
    dump = Path(run_backup(t).path)
    run_up(t)
    with t.connect("test") as c:
        inv_before = schema_inventory(c)
    users, logs = _count(t, "nchat_users"), _count(t, "nchat_audit_logs")
    killed: list[int] = []
    asked: list[str] = []

    def confirm(name: str, _sessions: list[dict[str, Any]]) -> str:
        asked.append(name)
        return name

    def progress(text: str, _f: float | None) -> None:
        if not killed and text.startswith("restore:"):
            for pid in _child_pids("pg_restore"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with pytest.raises(NchatError):
        restore_swap(t, dump, confirm_name=confirm, progress=progress)
    assert killed, "pg_restore was never seen running"
    assert asked == []  # never reached the confirmation
    dbs = _databases(t)
    assert dbs[t.database] is True
    assert not [d for d in dbs if d.startswith(t.database[:20]) and d != t.database]
    assert (_count(t, "nchat_users"), _count(t, "nchat_audit_logs")) == (users, logs)
    with t.connect("test") as c:
        assert diff_is_empty(diff_inventory(inv_before, schema_inventory(c),
                                            include_ledgers=True))


def test_down_rollback_returns_the_inventory_exactly(upgraded: tuple[Target, Path]) -> None:
    t, dump = upgraded
    manifest = manifest_path_for(dump)
    with t.connect("test") as c:
        uid = c.execute("SELECT id FROM nchat_users LIMIT 1").fetchone()[0]  # type: ignore
        c.execute("INSERT INTO nchat_identity_keys VALUES ('dev1', %s, 'p', 'k')", (uid,))
        c.execute("UPDATE nchat_messages SET encrypted_payload = 'x' WHERE ctid IN "
                  "(SELECT ctid FROM nchat_messages LIMIT 3)")
    facts = rollback_options(t, manifest)
    assert facts.schema_changed and facts.applied == ["014_e2ee_system.sql"]
    assert facts.down.available
    f = facts.down.files[0]
    assert {"table": "public.nchat_identity_keys", "rows": 1} in f["tables"]
    assert {"column": "public.nchat_messages.encrypted_payload", "values": 3} in f["columns"]
    assert facts.down.rows_lost == 1 and facts.down.values_lost == 3
    assert facts.recommended == "restore"  # the down files would lose data
    assert facts.restore.net_rows_added is not None and facts.restore.net_rows_added >= 1
    assert facts.restore.written_since_baseline is None or \
        "inserted" in facts.restore.written_since_baseline
    # The down path is gated like the up path: a verified backup newer than the ledger.
    run_backup(t)
    res = down_rollback(t, against=manifest)
    assert res.run["status"] == "ok", res.run
    assert res.run["committed"] == ["014_e2ee_system.down.sql"]
    assert res.inventory_equal, res.differences
    assert res.ledger_equal
    assert res.to_version == "001_base.sql"


def test_rows_written_since_verification(upgraded: tuple[Target, Path]) -> None:
    from nchat_tui.verify.engine import verify_upgrade

    t, dump = upgraded
    assert verify_upgrade(t).ok  # records the stats baseline
    with t.connect("test") as c:
        c.execute("INSERT INTO nchat_users (username) SELECT 'n' || g FROM generate_series(1, 5) g")
        c.execute("UPDATE nchat_channels SET name = name || '!'")
    deadline = time.monotonic() + 10  # the statistics collector reports asynchronously
    while True:
        w = rollback_options(t, manifest_path_for(dump)).restore.written_since_baseline
        assert w is not None
        if (w.get("inserted", 0) >= 5 and w.get("updated", 0) >= 6) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert w["inserted"] >= 5 and w["updated"] >= 6, w


def test_rows_written_since_the_backup(upgraded: tuple[Target, Path]) -> None:
    """The backup's snapshot records the write counters; the decision shows what came after."""
    t, dump = upgraded
    manifest = read_manifest(manifest_path_for(dump))
    assert manifest is not None and "public.nchat_users" in manifest["snapshot"]["table_stats"]["tables"]
    with t.connect("test") as c:
        c.execute("INSERT INTO nchat_users (username) SELECT 'w' || g FROM generate_series(1, 7) g")
        c.execute("DELETE FROM nchat_users WHERE username = 'w1'")
    deadline = time.monotonic() + 10  # the statistics reach the views asynchronously
    while True:
        r = rollback_options(t, manifest_path_for(dump)).restore
        w = r.writes_since_backup
        assert w is not None and "unavailable" not in w, w
        users: dict[str, Any] = next((x for x in w["tables"] if x["table"] == "public.nchat_users"), {})
        if (users.get("ins", 0) >= 7 and users.get("del", 0) >= 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert users["ins"] >= 7 and users["del"] >= 1, w
    assert r.written_since_backup.startswith("about ") and "inserted" in r.written_since_backup


def test_application_only_when_schema_unchanged(target: Target, tmp_path: Path) -> None:
    t = prepare_v030(target, tmp_path)
    run_backup(t)
    facts = rollback_options(t)
    assert not facts.schema_changed
    assert facts.app_only["available"] and facts.recommended == "application"


def test_cli_refuses_without_yes_and_tty(upgraded: tuple[Target, Path]) -> None:
    t, dump = upgraded
    common = ["--dsn", t.conninfo(), "--migrations", str(t.migrations_dir), "--backup-dir",
              str(t.backup_dir), "--state-dir", str(t.state_dir)]
    assert main([*common, "rollback", "--backup", str(dump)]) == 3
    assert main([*common, "rollback", "--down"]) == 3
    assert t.database in _databases(t)
    assert _count(t, "nchat_identity_keys") == 0  # still the upgraded schema


def test_demo_rollback_by_restore_cli(pg_db: dict[str, str], target: Target,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's "done when": on the demo, `rollback --backup PATH --yes` brings back the
    before row counts and schema and keeps the old database renamed."""
    import json

    from nchat_tui.demo.builder import default_migrations_dir, load_demo, table_counts

    load_demo(pg_db, scale=0.02)
    t = Target(**{**target.__dict__, "migrations_dir": default_migrations_dir()})
    common = ["--dsn", t.conninfo(), "--migrations", str(t.migrations_dir), "--backup-dir",
              str(t.backup_dir), "--state-dir", str(t.state_dir)]
    assert main([*common, "backup", "--json"]) == 0
    dump = json.loads(capsys.readouterr().out)["path"]
    with t.connect("test") as c:
        before = table_counts(c)
    assert main([*common, "migrate", "--yes"]) == 0
    with t.connect("test") as c:
        c.execute("SET session_replication_role = replica")
        c.execute("INSERT INTO nchat_users (id, email, username, display_name) "
                  "SELECT gen_random_uuid(), 'late@example.com', 'late', 'Late'")
    capsys.readouterr()
    assert main([*common, "rollback", "--json"]) == 0  # the facts
    facts = json.loads(capsys.readouterr().out)
    assert facts["schema_changed"] and facts["down"]["available"]
    assert facts["restore"]["net_rows_added"] >= 1
    assert main([*common, "rollback", "--backup", dump, "--yes", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    with t.connect("test") as c:
        assert table_counts(c) == before
        assert c.execute("SELECT to_regclass('public.nchat_identity_keys')").fetchone() == (None,)
    manifest = read_manifest(manifest_path_for(Path(dump)))
    assert manifest is not None
    with t.connect("test") as c:
        assert diff_is_empty(diff_inventory(manifest["snapshot"]["inventory"],
                                            schema_inventory(c), include_ledgers=True))
    assert res["old_database"] in _databases(t)
    assert main([*common, "rollback", "--drop-old", res["old_database"], "--yes"]) == 0
    assert res["old_database"] not in _databases(t)


def test_demo_down_rollback_cli(pg_db: dict[str, str], target: Target,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """On the demo: migrate 013-016, take a new backup (the down path is gated too), then
    `rollback --down --yes` reverts all four and the inventory equals the first backup's."""
    import json

    from nchat_tui.demo.builder import default_migrations_dir, load_demo

    load_demo(pg_db, scale=0.02)
    t = Target(**{**target.__dict__, "migrations_dir": default_migrations_dir()})
    common = ["--dsn", t.conninfo(), "--migrations", str(t.migrations_dir), "--backup-dir",
              str(t.backup_dir), "--state-dir", str(t.state_dir)]
    assert main([*common, "backup", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["path"]
    assert main([*common, "migrate", "--yes"]) == 0
    assert main([*common, "backup", "--json"]) == 0
    capsys.readouterr()
    rc = main([*common, "rollback", "--down", "--yes", "--json", "--against",
               str(manifest_path_for(Path(first)))])
    out = json.loads(capsys.readouterr().out)
    assert out["run"]["committed"] == ["016_live_streaming.down.sql", "015_voice_calls.down.sql",
                                       "014_e2ee_system.down.sql", "013_e2ee_system.down.sql"]
    assert out["to_version"] == "012_rls_policies.sql"
    assert out["inventory_equal"], out["differences"]
    assert rc == 0 and out["ledger_equal"]


def test_write_counters_that_went_backwards_are_not_a_difference() -> None:
    from nchat_tui.pg.snapshot import describe_writes, writes_between

    before = {"stats_reset": None, "tables": {"public.t": {"ins": 100, "upd": 5, "del": 0}}}
    grew = {"stats_reset": None, "tables": {"public.t": {"ins": 130, "upd": 5, "del": 2},
                                            "public.new": {"ins": 4, "upd": 0, "del": 0}}}
    w = writes_between(before, grew)
    assert (w["inserted"], w["updated"], w["deleted"]) == (34, 0, 2)
    restarted = {"stats_reset": None, "tables": {"public.t": {"ins": 3, "upd": 0, "del": 0},
                                                 "public.u": {"ins": 9, "upd": 0, "del": 0}}}
    w = writes_between(before, restarted)
    assert w["uncounted"] == ["public.t"] and w["inserted"] == 9  # only that table is left out
    assert "not counting public.t (re-created, or counters restarted)" in describe_writes(w)
    b2 = {"stats_reset": None, "tables": {"public.t": {"ins": 1, "upd": 0, "del": 0, "relid": 1}}}
    n2 = {"stats_reset": None, "tables": {"public.t": {"ins": 5, "upd": 0, "del": 0, "relid": 2}}}
    assert writes_between(b2, n2)["uncounted"] == ["public.t"]  # re-created, counters grew past
    reset = {"stats_reset": "2026-12-02T10:00:00+00:00", "tables": grew["tables"]}
    assert "reset" in writes_between(before, reset)["unavailable"]


def test_down_files_that_delete_rows_count_as_losing_data(target: Target, tmp_path: Path) -> None:
    """A DELETE in a down file cannot be counted beforehand: the down rollback then asks for
    the database name, like a down run that drops rows."""
    from dataclasses import replace

    from nchat_tui.migrate.runner import RunOptions, run_migrations
    from nchat_tui.rollback.engine import down_facts
    from nchat_tui.upgrade.actions import ActionContext, Question
    from nchat_tui.upgrade.steps import _confirm_down

    d = tmp_path / "mig"
    d.mkdir()
    (d / "001_t.sql").write_text("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3);")
    (d / "002_x.sql").write_text("CREATE TABLE x (id int); INSERT INTO t VALUES (4);")
    (d / "002_x.down.sql").write_text("DELETE FROM t WHERE id = 4;\nDROP TABLE x;")
    # A rename moves data and destroys none; a down file we cannot parse could do anything.
    (d / "003_r.sql").write_text("ALTER TABLE t RENAME COLUMN id TO ident;")
    (d / "003_r.down.sql").write_text("ALTER TABLE t RENAME COLUMN ident TO id;")
    (d / "004_p.sql").write_text("CREATE TABLE p (id int);")
    (d / "004_p.down.sql").write_text("DROP TABLE p;\n\\echo dropped\n")
    t = replace(target, migrations_dir=d)
    assert run_migrations(t, RunOptions(migrations_dir=d, to_version="001",
                                        without_backup="test"), None, None).status == "ok"
    run_backup(t, verify=True, check_space=False)
    assert run_migrations(t, RunOptions(migrations_dir=d), None, None).status == "ok"
    facts = down_facts(t)
    assert facts.rows_lost == 0 and facts.values_lost == 0  # x is empty...
    assert facts.unmeasured[0].startswith("004_p.down.sql: not parseable")
    assert facts.unmeasured[1:] == ["002_x.down.sql: deletes rows of public.t"]  # ...but not t
    assert facts.loses_data
    put: list[Question] = []
    def not_now(q: Question) -> str:
        put.append(q)
        return "no"

    ctx = ActionContext(t, ask=not_now)
    assert _confirm_down(ctx, None) is False
    assert put[0].danger == ("run",) and put[0].confirm_word == t.database
    assert "deletes rows of public.t" in put[0].text
    assert "No rows or values are lost" not in put[0].text
