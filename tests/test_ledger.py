"""Ledger detection and the pending set, on a real PostgreSQL: all three ledgers in the wild."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import psycopg

from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import (
    detect_ledger,
    ensure_go_ledger,
    pending,
    record_applied,
    remove_applied,
)

Conn = psycopg.Connection[Any]

MIXED = {
    "003_base.sql": "select 3;",
    "0007_more.sql": "select 7;",
    "00013_e2ee.sql": "select 13;",
    "014_e2ee_final.sql": "select 14;",
    "20260203070900_calls.up.sql": "select 'calls';",
    "20260203070900_calls.down.sql": "select 'undo calls';",
}


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    for name, body in MIXED.items():
        (d / name).write_text(body)
    return d


def test_no_ledger_everything_pending(pg_conn: Conn, tmp_path: Path) -> None:
    led = detect_ledger(pg_conn)
    assert (led.kind, led.kinds, led.applied) == ("none", [], [])
    assert led.current_version() is None and led.latest_change() is None
    files = discover(_folder(tmp_path)).files
    assert [f.name for f in pending(files, led)] == [
        "003_base.sql", "0007_more.sql", "00013_e2ee.sql", "014_e2ee_final.sql",
        "20260203070900_calls.up.sql"]


def test_go_ledger_with_plugin_rows_and_rollback(pg_conn: Conn, tmp_path: Path) -> None:
    # The plugin system's reconciled shape: name nullable, plugin rows carry name IS NULL.
    pg_conn.execute("""
        CREATE SCHEMA np_common;
        CREATE TABLE np_common.schema_versions (name TEXT UNIQUE, plugin TEXT, version INT,
                                                applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
        INSERT INTO np_common.schema_versions (plugin, version, applied_at)
            VALUES ('claw', 3, now() + interval '1 hour');
        INSERT INTO np_common.schema_versions (name, applied_at) VALUES
            ('003_base.sql', '2026-01-01'), ('0007_more.sql', '2026-01-02'),
            ('00013_e2ee.sql', '2026-01-03');
    """)
    ensure_go_ledger(pg_conn)  # creates nself_ops.migrations; leaves schema_versions as is
    sums = {n: hashlib.sha256(MIXED[n].encode()).hexdigest() for n in MIXED}
    pg_conn.execute("""
        INSERT INTO nself_ops.migrations (id, name, checksum, applied_at, rolled_back_at) VALUES
          ('003', '003_base.sql', %s, '2026-01-01', NULL),
          ('0007', '0007_more.sql', 'stale-checksum', '2026-01-02', NULL),
          ('00013', '00013_e2ee.sql', %s, '2026-01-03', '2026-01-04')
    """, (sums["003_base.sql"], sums["00013_e2ee.sql"]))
    led = detect_ledger(pg_conn)
    assert led.kind == "go" and led.kinds == ["go"]
    # plugin row filtered, rolled-back row not applied
    assert led.applied_names() == ["003_base.sql", "0007_more.sql"]
    assert [a.name for a in led.rolled_back] == ["00013_e2ee.sql"]
    assert led.current_version() == "0007"
    latest = led.latest_change()
    assert latest is not None and latest.isoformat().startswith("2026-01-04")
    files = discover(_folder(tmp_path)).files
    assert [f.name for f in pending(files, led)] == [
        "00013_e2ee.sql", "014_e2ee_final.sql", "20260203070900_calls.up.sql"]
    by = {f.name: f for f in files}
    assert led.checksum_for(by["003_base.sql"]) == by["003_base.sql"].sha256()
    assert led.checksum_for(by["0007_more.sql"]) == "stale-checksum"
    assert led.checksum_for(by["014_e2ee_final.sql"]) is None


def test_bash_ledger_matches_by_version(pg_conn: Conn, tmp_path: Path) -> None:
    pg_conn.execute("""
        CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, name TEXT,
                                               applied_at TIMESTAMPTZ DEFAULT now());
        INSERT INTO schema_migrations (version, name, applied_at) VALUES
            (3, '003_base.sql', '2026-01-01'), (13, '00013_e2ee.sql', '2026-01-02'),
            (20260203070900, '20260203070900_calls.up.sql', '2026-01-03');
    """)
    led = detect_ledger(pg_conn)
    assert (led.kind, led.kinds) == ("bash", ["bash"])
    assert led.applied_names() == ["003_base.sql", "00013_e2ee.sql", "20260203070900_calls.up.sql"]
    assert led.current_version() == "20260203070900"
    files = discover(_folder(tmp_path)).files
    # numeric match: a Bash row for version 13 covers 00013_e2ee.sql whatever its padding
    assert [f.name for f in pending(files, led)] == ["0007_more.sql", "014_e2ee_final.sql"]


def test_guide_ledger_version_and_executed_at(pg_conn: Conn, tmp_path: Path) -> None:
    pg_conn.execute("""
        CREATE TABLE schema_migrations (version VARCHAR(20) PRIMARY KEY,
                                        executed_at TIMESTAMP DEFAULT now());
        INSERT INTO schema_migrations VALUES ('003', '2026-01-01'), ('0007', '2026-01-02'),
                                             ('013', '2026-01-03');
    """)
    led = detect_ledger(pg_conn)
    assert (led.kind, led.kinds) == ("guide", ["guide"])
    assert led.applied_names() == ["003", "0007", "013"]
    assert [a.version for a in led.applied] == [3, 7, 13]
    assert led.current_version() == "013"
    files = discover(_folder(tmp_path)).files
    assert [f.name for f in pending(files, led)] == [
        "014_e2ee_final.sql", "20260203070900_calls.up.sql"]


def test_several_ledgers_primary_is_latest(pg_conn: Conn) -> None:
    pg_conn.execute("""
        CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, name TEXT,
                                               applied_at TIMESTAMPTZ DEFAULT now());
        INSERT INTO schema_migrations VALUES (3, '003_base.sql', '2025-06-01');
    """)
    ensure_go_ledger(pg_conn)
    led = detect_ledger(pg_conn)
    # Go tables exist but are empty: the Bash ledger still holds the latest change
    assert led.kinds == ["go", "bash"] and led.kind == "bash"
    assert any("several ledgers" in n for n in led.notes)
    pg_conn.execute("INSERT INTO np_common.schema_versions (name) VALUES ('0007_more.sql')")
    led = detect_ledger(pg_conn)
    assert led.kind == "go" and led.applied_names() == ["0007_more.sql"]
    assert [a.name for a in led.others["bash"]] == ["003_base.sql"]


def test_golang_migrate_shape_is_not_a_ledger(pg_conn: Conn) -> None:
    pg_conn.execute("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, dirty BOOLEAN)")
    led = detect_ledger(pg_conn)
    assert led.kind == "none"
    assert any("not a per-file migration ledger" in n for n in led.notes)


def test_record_and_remove_as_the_go_cli(pg_conn: Conn, tmp_path: Path) -> None:
    files = discover(_folder(tmp_path)).files
    f = files[2]  # 00013_e2ee.sql
    ensure_go_ledger(pg_conn)
    led = detect_ledger(pg_conn)
    with pg_conn.transaction():
        record_applied(pg_conn, ["go"], f, checksum=f.sha256(), applied_by="tester",
                       duration_ms=12, ledger=led)
    row = pg_conn.execute("SELECT id, name, checksum, applied_by, duration_ms, rolled_back_at "
                          "FROM nself_ops.migrations").fetchall()
    assert row == [("00013_e2ee", "00013_e2ee.sql", f.sha256(), "tester", 12, None)]
    assert pg_conn.execute("SELECT name FROM np_common.schema_versions").fetchall() == [
        ("00013_e2ee.sql",)]
    led = detect_ledger(pg_conn)
    assert led.is_applied(f) and not led.is_applied(files[3])
    with pg_conn.transaction():
        remove_applied(pg_conn, ["go"], f, ledger=led)
    assert pg_conn.execute("SELECT count(*) FROM nself_ops.migrations").fetchone() == (0,)
    assert pg_conn.execute("SELECT count(*) FROM np_common.schema_versions").fetchone() == (0,)


def test_record_and_remove_bash_and_guide(pg_conn: Conn, tmp_path: Path) -> None:
    files = discover(_folder(tmp_path)).files
    f = files[-1]
    pg_conn.execute("CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, "
                    "name TEXT, applied_at TIMESTAMPTZ DEFAULT now())")
    led = detect_ledger(pg_conn)
    record_applied(pg_conn, ["bash"], f, checksum="x", applied_by="t", duration_ms=1, ledger=led)
    assert pg_conn.execute("SELECT version, name FROM schema_migrations").fetchall() == [
        (20260203070900, "20260203070900_calls.up.sql")]
    remove_applied(pg_conn, ["bash"], f, ledger=led)
    assert pg_conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)
    pg_conn.execute("DROP TABLE schema_migrations; CREATE TABLE schema_migrations "
                    "(version TEXT PRIMARY KEY, executed_at TIMESTAMP NOT NULL)")  # no default
    led = detect_ledger(pg_conn)
    assert led.kind == "guide"
    record_applied(pg_conn, ["guide"], files[2], checksum="x", applied_by="t", duration_ms=1,
                   ledger=led)
    assert detect_ledger(pg_conn).applied_names() == ["00013"]  # text column: prefix as written
    remove_applied(pg_conn, ["guide"], files[2], ledger=led)
    assert detect_ledger(pg_conn).applied == []


def test_older_bash_cli_varchar_versions(pg_conn: Conn, tmp_path: Path) -> None:
    """The Bash CLI's schema_migrations(version VARCHAR PRIMARY KEY, applied_at) keyed by the
    prefix as written: it checks `WHERE version = '013'`, so we must write '013', not '13'."""
    pg_conn.execute("CREATE TABLE schema_migrations (version VARCHAR(255) PRIMARY KEY, "
                    "applied_at TIMESTAMPTZ DEFAULT NOW())")
    pg_conn.execute("INSERT INTO schema_migrations (version) VALUES ('003')")
    files = discover(_folder(tmp_path)).files
    led = detect_ledger(pg_conn)
    assert led.kind == "bash" and led.applied_names() == ["003"]
    assert [f.name for f in pending(files, led)][:1] == ["0007_more.sql"]
    record_applied(pg_conn, ["bash"], files[1], checksum="x", applied_by="t", duration_ms=1,
                   ledger=led)
    assert pg_conn.execute("SELECT version FROM schema_migrations WHERE version = '0007'"
                           ).fetchone() == ("0007",)
