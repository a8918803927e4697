"""The embedded demo on the real PostgreSQL: schema, ledger, data, pending 013-016, workload.

``load_demo`` runs at small scales here (0.02: 100 users, 6 channels, ~6,000 messages).
The migrations 013-016 and their downs are checked against a catalog inventory written in
this module: after the downs in reverse order the schema must be exactly the v0.3.0 one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from nchat_tui.cli import main as cli
from nchat_tui.demo.builder import (
    APP_NAME,
    LoadReport,
    Workload,
    default_migrations_dir,
    demo_paths,
    ensure_demo,
    load_demo,
    stop_demo,
    up_files,
)
from nchat_tui.pg.cluster import LocalCluster

MIGRATIONS = default_migrations_dir()

# Everything a migration can change, one row per object, data-independent.
INVENTORY = r"""
SELECT kind, name, detail FROM (
  SELECT 'schema' AS kind, nspname::text AS name, '' AS detail
    FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'extension', extname::text, extversion FROM pg_extension
  UNION ALL
  SELECT 'relation', n.nspname || '.' || c.relname,
         c.relkind::text || ' rls=' || c.relrowsecurity || ' force=' || c.relforcerowsecurity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname,
         format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
         || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
         || ' gen=' || a.attgenerated::text
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
     AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT 'constraint', n.nspname || '.' || c.relname || '.' || k.conname,
         pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT 'index', n.nspname || '.' || ic.relname, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = ic.relnamespace
   WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT 'trigger', c.relname || '.' || t.tgname,
         pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT t.tgisinternal AND n.nspname NOT LIKE 'pg\_%'
  UNION ALL
  SELECT 'function',
         n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
         md5(p.prosrc) || ' ' || p.provolatile::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
     AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.objid = p.oid AND dep.deptype = 'e')
  UNION ALL
  SELECT 'type', n.nspname || '.' || t.typname,
         t.typtype::text || ' ' || coalesce((SELECT string_agg(e.enumlabel, ','
                                                               ORDER BY e.enumsortorder)
                                               FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
     AND t.typtype IN ('e', 'd')
     AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.objid = t.oid AND dep.deptype = 'e')
  UNION ALL
  SELECT 'view', n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('v', 'm') AND n.nspname NOT LIKE 'pg\_%'
     AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT 'policy', schemaname || '.' || tablename || '.' || policyname,
         permissive || ' ' || roles::text || ' ' || cmd || ' ' || coalesce(qual, '') || ' '
         || coalesce(with_check, '')
    FROM pg_policies
) inv
ORDER BY kind, name, detail
"""


def inventory(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str]]:
    return [(str(a), str(b), str(c)) for a, b, c in conn.execute(INVENTORY).fetchall()]


def apply_file(conn: psycopg.Connection[Any], name: str) -> None:
    """Run one migration file in a transaction, as the nself Go CLI does."""
    with conn.transaction():
        conn.execute((MIGRATIONS / name).read_text(encoding="utf-8"))


def scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def demo_conn(pg_db: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """A database holding the demo at scale 0.02."""
    report = load_demo(pg_db, scale=0.02)
    assert isinstance(report, LoadReport)
    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as conn:
        yield conn


# -- the v0.3.0 database ----------------------------------------------------------------------
def test_load_demo_builds_the_nchat_v030_schema(demo_conn: psycopg.Connection[Any]) -> None:
    conn = demo_conn
    tables = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'nchat\\_%'")]
    assert 30 <= len(tables) <= 40
    for t in ("nchat_users", "nchat_channels", "nchat_channel_members", "nchat_messages",
              "nchat_reactions", "nchat_threads", "nchat_attachments"):
        assert t in tables
    # v0.4.0 is pending: none of its objects exist yet
    assert scalar(conn, "SELECT to_regclass('public.nchat_identity_keys')") is None
    assert scalar(conn, "SELECT to_regclass('public.nchat_calls')") is None

    enums = dict(conn.execute(
        "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t "
        "JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname").fetchall())
    for name in ("user_status", "channel_type", "message_type", "member_role"):
        assert name in enums
    assert "direct" in enums["channel_type"] and "text" in enums["message_type"]

    # UUID ids with gen_random_uuid(), soft-delete columns, source_account_id
    cols = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
        "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name LIKE 'nchat\\_%'")}
    assert cols[("nchat_messages", "id")] == ("uuid", "gen_random_uuid()")
    for needed in [("nchat_users", "deleted_at"), ("nchat_messages", "is_deleted"),
                   ("nchat_messages", "deleted_at"), ("nchat_channels", "is_archived"),
                   ("nchat_channels", "archived_at")]:
        assert needed in cols
    with_source = [t for (t, c) in cols if c == "source_account_id"]
    assert len(with_source) == 11
    assert cols[("nchat_messages", "source_account_id")][1] == "'primary'::text"

    # RLS on every nchat table, with policies; other schemas and extensions
    no_rls = [r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE 'nchat\\_%' "
        "AND relnamespace = 'public'::regnamespace AND NOT relrowsecurity")]
    assert no_rls == []
    assert scalar(conn, "SELECT count(*) FROM pg_policies WHERE tablename LIKE 'nchat\\_%'") > 30
    assert scalar(conn, "SELECT count(*) FROM pg_policies WHERE policyname = "
                        "'rls_nchat_messages_source_account'") == 1
    exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert {"uuid-ossp", "pgcrypto", "pg_trgm", "citext"} <= exts
    assert scalar(conn, "SELECT to_regclass('auth.users')") is not None
    assert scalar(conn, "SELECT count(*) FROM auth.users") == scalar(
        conn, "SELECT count(*) FROM nchat_users")
    assert scalar(conn, "SELECT to_regnamespace('hdb_catalog')") is not None


def test_ledger_records_001_to_012_with_real_checksums(demo_conn: psycopg.Connection[Any]) -> None:
    conn = demo_conn
    files = [p for p in up_files(MIGRATIONS)]
    applied = [p for p in files if int(p.name[:3]) <= 12]
    assert [p.name[:3] for p in applied] == [f"{i:03d}" for i in range(1, 13)]
    assert [p.name for p in files if int(p.name[:3]) > 12] == [
        "013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
        "016_live_streaming.sql"]

    names = [r[0] for r in conn.execute(
        "SELECT name FROM np_common.schema_versions ORDER BY name")]
    assert names == [p.name for p in applied]
    rows = conn.execute("SELECT id, name, checksum, applied_at, applied_by, duration_ms, "
                        "rolled_back_at FROM nself_ops.migrations ORDER BY id").fetchall()
    assert len(rows) == 12
    for (mid, name, checksum, applied_at, applied_by, duration_ms, rolled_back), path in zip(
            rows, applied, strict=True):
        assert mid == path.name.split("_", 1)[0]
        assert name == path.name
        assert checksum == hashlib.sha256(path.read_bytes()).hexdigest()
        assert applied_at is not None and applied_by and duration_ms >= 0
        assert rolled_back is None
    # applied in file order, before the data they precede
    stamps = [r[3] for r in rows]
    assert stamps == sorted(stamps)
    first_message = scalar(conn, "SELECT min(created_at) FROM nchat_messages")
    assert stamps[0] < first_message


def test_demo_data_is_consistent_and_realistic(demo_conn: psycopg.Connection[Any]) -> None:
    conn = demo_conn
    # Foreign keys were not checked during the load (triggers off): check every one now.
    fks = conn.execute(
        "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, fa.attname "
        "FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] "
        "WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 "
        "AND c.connamespace IN ('public'::regnamespace, 'auth'::regnamespace, "
        "'storage'::regnamespace)").fetchall()
    assert len(fks) > 50
    for child, col, parent, pcol in fks:
        q = sql.SQL("SELECT count(*) FROM {} c WHERE c.{} IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM {} p WHERE p.{} = c.{})").format(
            sql.SQL(child), sql.Identifier(col), sql.SQL(parent), sql.Identifier(pcol),
            sql.Identifier(col))
        assert conn.execute(q).fetchone() == (0,), f"orphans in {child}.{col} -> {parent}"

    # Counters the triggers would have kept
    assert scalar(conn, """
        SELECT count(*) FROM nchat_messages m
         WHERE m.reaction_count <> (SELECT count(*) FROM nchat_reactions r
                                     WHERE r.message_id = m.id)""") == 0
    assert scalar(conn, """
        SELECT count(*) FROM nchat_messages m
         WHERE m.reply_count <> (SELECT count(*) FROM nchat_messages r
                                  WHERE r.parent_message_id = m.id)""") == 0
    assert scalar(conn, """
        SELECT count(*) FROM nchat_channels c
         WHERE c.member_count <> (SELECT count(*) FROM nchat_channel_members m
                                   WHERE m.channel_id = c.id)""") == 0
    # Authors belong to the channel they write in
    assert scalar(conn, """
        SELECT count(*) FROM nchat_messages m
         WHERE NOT EXISTS (SELECT 1 FROM nchat_channel_members cm
                            WHERE cm.channel_id = m.channel_id AND cm.user_id = m.user_id)""") == 0

    # Soft deletes, archived channels, threads, skew and time spread
    assert scalar(conn, "SELECT count(*) FROM nchat_users WHERE deleted_at IS NOT NULL") > 0
    assert scalar(conn, "SELECT count(*) FROM nchat_messages WHERE is_deleted") > 0
    assert scalar(conn, "SELECT count(*) FROM nchat_messages "
                        "WHERE is_deleted <> (deleted_at IS NOT NULL)") == 0
    assert scalar(conn, "SELECT count(*) FROM nchat_channels WHERE is_archived") >= 1
    assert scalar(conn, "SELECT count(*) FROM nchat_threads") > 0
    per_channel = [r[0] for r in conn.execute(
        "SELECT count(*) FROM nchat_messages GROUP BY channel_id ORDER BY 1 DESC")]
    assert per_channel[0] > 5 * per_channel[-1]
    span = scalar(conn, "SELECT max(created_at) - min(created_at) FROM nchat_messages")
    assert span.days > 60
    assert scalar(conn, "SELECT max(created_at) <= now() FROM nchat_messages")
    # The loader left no helper behind
    assert scalar(conn, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'demo\\_%'") == 0


def test_data_scales_with_the_scale(pg_cluster: LocalCluster, pg_db: dict[str, str]) -> None:
    small = load_demo(pg_db, scale=0.02)
    name = pg_db["dbname"] + "_x"
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        bigger = load_demo({**pg_db, "dbname": name}, scale=0.06)
    finally:
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()),
                             autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    assert small.counts["nchat_users"] == 100 and bigger.counts["nchat_users"] == 300
    assert bigger.counts["nchat_channels"] == 18
    ratio = bigger.counts["nchat_messages"] / small.counts["nchat_messages"]
    assert 2.4 < ratio < 3.6
    assert 5_500 < small.counts["nchat_messages"] < 7_000
    assert bigger.counts["nchat_reactions"] > small.counts["nchat_reactions"]
    assert small.timings["total"] < 60  # generous bound: the demo must stay quick in tests


def test_load_demo_refuses_a_database_that_is_not_empty(
        demo_conn: psycopg.Connection[Any], pg_db: dict[str, str]) -> None:
    from nchat_tui.errors import OperationFailed

    with pytest.raises(OperationFailed, match="empty database"):
        load_demo(pg_db, scale=0.02)


def test_load_demo_accepts_an_open_connection(pg_conn: psycopg.Connection[Any]) -> None:
    report = load_demo(pg_conn, scale=0.02)
    assert report.counts["nchat_users"] == 100
    assert len(report.applied) == 12


# -- the pending v0.4.0 migrations --------------------------------------------------------------
def test_013_to_016_apply_and_their_downs_restore_v030_exactly(
        demo_conn: psycopg.Connection[Any]) -> None:
    conn = demo_conn
    before = inventory(conn)
    messages_before = scalar(conn, "SELECT count(*) FROM nchat_messages")

    apply_file(conn, "013_e2ee_system.sql")
    after_013 = inventory(conn)
    for name in ("014_e2ee_system.sql", "015_voice_calls.sql", "016_live_streaming.sql"):
        apply_file(conn, name)

    # seed 004: 7 tables + the materialized view with its unique index and refresh triggers
    e2ee = ["nchat_user_master_keys", "nchat_identity_keys", "nchat_signed_prekeys",
            "nchat_one_time_prekeys", "nchat_signal_sessions", "nchat_safety_numbers",
            "nchat_e2ee_audit_log"]
    for t in e2ee:
        assert scalar(conn, "SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass",
                      (t,)) is True
    assert scalar(conn, "SELECT relkind FROM pg_class WHERE relname = 'nchat_prekey_bundles'") \
        == "m"
    assert scalar(conn, "SELECT indisunique FROM pg_index WHERE indexrelid = "
                        "'idx_prekey_bundles_device'::regclass") is True
    assert scalar(conn, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE "
                        "'refresh_prekey_bundles_on_%'") == 3
    guide_indexes = [
        "idx_user_master_keys_user_id", "idx_identity_keys_user_id", "idx_identity_keys_device_id",
        "idx_signed_prekeys_device_id", "idx_signed_prekeys_active", "idx_signed_prekeys_rotation",
        "idx_one_time_prekeys_device_id", "idx_one_time_prekeys_available",
        "idx_one_time_prekeys_consumed", "idx_signal_sessions_device_id",
        "idx_signal_sessions_peer", "idx_signal_sessions_active",
        "idx_signal_sessions_last_message", "idx_safety_numbers_user_id",
        "idx_safety_numbers_verified", "idx_messages_encrypted", "idx_messages_sender_device",
        "idx_channels_enforce_encryption"]
    for ix in guide_indexes:
        assert scalar(conn, "SELECT to_regclass(%s)", (ix,)) is not None, ix
    cols = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'nchat_messages' AND column_name IN "
        "('is_encrypted', 'encrypted_payload', 'sender_device_id')")}
    assert cols == {"is_encrypted": ("boolean", "NO"), "encrypted_payload": ("bytea", "YES"),
                    "sender_device_id": ("text", "YES")}
    assert scalar(conn, "SELECT confdeltype FROM pg_constraint "
                        "WHERE conname = 'fk_messages_sender_device'") == "n"  # SET NULL
    assert scalar(conn, "SELECT count(*) FROM nchat_channels WHERE enforce_encryption") == 0
    assert scalar(conn, "SELECT count(*) FROM nchat_messages WHERE NOT is_encrypted") \
        == messages_before
    for t in ("nchat_calls", "nchat_call_participants", "nchat_call_events",
              "nchat_live_streams", "nchat_stream_viewers"):
        assert scalar(conn, "SELECT to_regclass(%s)", (t,)) is not None, t

    # the refresh triggers keep the bundle view current
    user_id = scalar(conn, "SELECT id FROM nchat_users LIMIT 1")
    conn.execute("INSERT INTO nchat_identity_keys VALUES ('dev-1', %s, '\\x01', '\\x02')",
                 (user_id,))
    conn.execute("INSERT INTO nchat_signed_prekeys (device_id, signed_prekey_id, "
                 "signed_prekey_public, signed_prekey_private_encrypted, signature) "
                 "VALUES ('dev-1', 1, '\\x03', '\\x04', '\\x05')")
    assert scalar(conn, "SELECT count(*) FROM nchat_prekey_bundles") == 1
    conn.execute("DELETE FROM nchat_identity_keys")

    for name in ("016_live_streaming.down.sql", "015_voice_calls.down.sql",
                 "014_e2ee_system.down.sql"):
        apply_file(conn, name)
    assert inventory(conn) == after_013
    apply_file(conn, "013_e2ee_system.down.sql")
    after = inventory(conn)
    assert after == before, _diff(before, after)
    assert scalar(conn, "SELECT count(*) FROM nchat_messages") == messages_before


def test_014_alone_matches_013_then_014(pg_cluster: LocalCluster, pg_db: dict[str, str]) -> None:
    """The guide's dry run applies 014 alone: the result must equal 013 + 014."""
    load_demo(pg_db, scale=0.02)
    name = pg_db["dbname"] + "_y"
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pg_db["dbname"])))
    try:
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as a, \
                psycopg.connect(make_conninfo(**{**pg_db, "dbname": name}), autocommit=True) as b:
            apply_file(a, "013_e2ee_system.sql")
            apply_file(a, "014_e2ee_system.sql")
            apply_file(b, "014_e2ee_system.sql")
            assert inventory(a) == inventory(b)
    finally:
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()),
                             autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _diff(a: list[tuple[str, str, str]], b: list[tuple[str, str, str]]) -> str:
    sa, sb = set(a), set(b)
    return f"missing: {sorted(sa - sb)[:10]}; extra: {sorted(sb - sa)[:10]}"


def test_migration_files_have_no_transaction_control() -> None:
    for path in sorted(MIGRATIONS.glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
        assert not re.search(r"^\s*(BEGIN|COMMIT|ROLLBACK)\s*;", text, re.I | re.M), path.name
    downs = sorted(p.name for p in MIGRATIONS.glob("*.down.sql"))
    assert downs == ["013_e2ee_system.down.sql", "014_e2ee_system.down.sql",
                     "015_voice_calls.down.sql", "016_live_streaming.down.sql"]


# -- the workload -------------------------------------------------------------------------------
def _wait_for(cond: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_workload_runs_survives_a_lock_and_stops(
        demo_conn: psycopg.Connection[Any], pg_db: dict[str, str]) -> None:
    conn = demo_conn
    before = scalar(conn, "SELECT count(*) FROM nchat_messages")
    wl = Workload(pg_db, writers=2, readers=1, rate=8.0, slow_every=0.5,
                  statement_timeout_ms=700, seed=7)
    wl.start()
    try:
        assert _wait_for(lambda: wl.stats().messages_posted >= 3 and wl.stats().reads >= 3
                         and wl.stats().slow_queries >= 1)
        apps = scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                      (APP_NAME,))
        assert apps >= 3
        # a migration holding ACCESS EXCLUSIVE on nchat_messages: the workload waits, times
        # out, counts the errors and goes on
        with psycopg.connect(make_conninfo(**pg_db)) as locker:
            locker.execute("LOCK TABLE nchat_messages IN ACCESS EXCLUSIVE MODE")
            assert _wait_for(lambda: wl.stats().errors >= 1)
            locker.rollback()
        posted = wl.stats().messages_posted
        assert _wait_for(lambda: wl.stats().messages_posted > posted + 2)
        assert wl.running
    finally:
        wl.stop()
    assert not wl.running
    st = wl.stats()
    assert st.queries > 0 and st.last_error is not None
    after = scalar(conn, "SELECT count(*) FROM nchat_messages")
    assert after - before == st.messages_posted
    assert scalar(conn, "SELECT count(*) FROM nchat_messages "
                        "WHERE metadata->>'source' = 'nchat-demo-app'") == st.messages_posted
    assert _wait_for(lambda: scalar(conn, "SELECT count(*) FROM pg_stat_activity "
                                          "WHERE application_name = %s", (APP_NAME,)) == 0, 10)


def test_workload_stops_by_itself_and_survives_a_dropped_database(
        pg_cluster: LocalCluster, pg_db: dict[str, str]) -> None:
    load_demo(pg_db, scale=0.02)
    wl = Workload(pg_db, writers=1, readers=1, rate=10.0, slow_every=0, duration=3.0, seed=1)
    wl.start()
    assert _wait_for(lambda: wl.stats().queries >= 3)
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = %s", (APP_NAME,))
    assert _wait_for(lambda: not wl.running, timeout=30)  # duration reached: it stopped itself
    st = wl.stats()
    assert st.errors >= 1 and st.queries >= 3


# -- the demo cluster ---------------------------------------------------------------------------
def test_demo_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NCHAT_TUI_DEMO_DIR", raising=False)
    demo_dir, sock = demo_paths()
    if os.geteuid() == 0:
        assert demo_dir == Path("/var/lib/nchat-tui/demo")
    assert sock == demo_dir / "run"
    monkeypatch.setenv("NCHAT_TUI_DEMO_DIR", "/tmp/" + "x" * 120)
    demo_dir, sock = demo_paths()
    assert demo_dir == Path("/tmp/" + "x" * 120)
    assert len(str(sock)) < 60 and str(sock).startswith("/tmp/nchat-tui-")


@pytest.fixture
def demo_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="nchat-demo-", dir="/tmp"))
    os.chmod(base, 0o755)
    monkeypatch.setenv("NCHAT_TUI_DEMO_DIR", str(base / "demo"))
    try:
        yield base / "demo"
    finally:
        stop_demo()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_ensure_demo_builds_then_reuses(demo_home: Path, capsys: pytest.CaptureFixture[str]) \
        -> None:
    steps: list[str] = []
    info = ensure_demo(scale=0.02, progress=steps.append)
    assert info.built and info.dbname == "nchat" and info.host == "127.0.0.1"
    assert any("migrations" in s for s in steps)
    assert stat.S_IMODE(info.password_file.stat().st_mode) == 0o600
    assert info.password not in repr(info) and info.password not in json.dumps(info.public())
    assert info.migrations_dir == MIGRATIONS and info.backup_dir.is_dir()
    with psycopg.connect(make_conninfo(**info.conninfo_params()), autocommit=True) as conn:
        assert scalar(conn, "SELECT count(*) FROM nself_ops.migrations") == 12
        assert scalar(conn, "SELECT count(*) FROM nchat_users") == 100

    again = ensure_demo(scale=0.02)
    assert not again.built and again.port == info.port and again.password == info.password
    assert again.timings["total"] < 3.0  # the bound for a reused demo

    assert stop_demo() is True
    assert stop_demo() is False
    restarted = ensure_demo(scale=0.02)
    # a cold restart takes 0.2-0.4 s here; the bound is loose for a machine under load
    assert not restarted.built and restarted.timings["total"] < 10.0

    # the CLI: details as JSON, never the password
    capsys.readouterr()
    assert cli.main(["demo", "--no-app", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["port"] == restarted.port and data["dbname"] == "nchat"
    assert info.password not in out
    assert data["password"] == f"see {info.password_file}"
    assert cli.main(["demo", "--no-app"]) == 0
    out = capsys.readouterr().out
    assert "postgres@127.0.0.1" in out and info.password not in out
    assert cli.main(["demo", "--stop"]) == 0
    assert "stopped" in capsys.readouterr().out


@pytest.mark.slow
def test_ensure_demo_fresh_rebuilds_an_interrupted_build(demo_home: Path) -> None:
    info = ensure_demo(scale=0.02)
    # simulate a build that died before the rename: a leftover scratch db and no nchat db
    with psycopg.connect(make_conninfo(**{**info.conninfo_params(), "dbname": "postgres"}),
                         autocommit=True) as conn:
        conn.execute('ALTER DATABASE "nchat" RENAME TO "nchat_demo_loading"')
    rebuilt = ensure_demo(scale=0.02)
    assert rebuilt.built
    # a demo built from other SQL files (an older nchat-tui) is rebuilt on reuse
    state_file = demo_home / "demo.json"
    state = json.loads(state_file.read_text())
    state["fingerprint"] = "0" * 16
    state_file.write_text(json.dumps(state))
    steps: list[str] = []
    assert ensure_demo(scale=0.02, progress=steps.append).built
    assert any("SQL changed" in s for s in steps)
    assert not ensure_demo(scale=0.02).built
    fresh = ensure_demo(fresh=True, scale=0.02)
    assert fresh.built and fresh.password != info.password
    # a lost password file: a new password is set (over the socket), the data is kept
    fresh.password_file.unlink()
    again = ensure_demo(scale=0.02)
    assert not again.built and again.password != fresh.password
    with psycopg.connect(make_conninfo(**again.conninfo_params()), autocommit=True) as conn:
        assert scalar(conn, "SELECT count(*) FROM nchat_users") == 100
        assert scalar(conn, "SELECT count(*) FROM pg_stat_statements "
                            "WHERE query ILIKE %s", (f"%{again.password}%",)) == 0


def test_load_demo_in_a_callers_transaction(pg_db: dict[str, str]) -> None:
    with psycopg.connect(make_conninfo(**pg_db)) as conn:  # not autocommit: one lane
        report = load_demo(conn, scale=0.02)
        conn.commit()
    assert report.counts["nchat_users"] == 100
    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as conn:
        assert scalar(conn, "SELECT count(*) FROM nchat_messages") == \
            report.counts["nchat_messages"]


def test_workload_survives_the_v040_migrations(demo_conn: psycopg.Connection[Any],
                                                pg_db: dict[str, str]) -> None:
    """013-016 and their downs run while the workload writes: both come through."""
    wl = Workload(pg_db, writers=2, readers=1, rate=10.0, slow_every=0.3, seed=3)
    wl.start()
    try:
        assert _wait_for(lambda: wl.stats().messages_posted >= 3)
        for name in ("013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
                     "016_live_streaming.sql", "016_live_streaming.down.sql",
                     "015_voice_calls.down.sql", "014_e2ee_system.down.sql",
                     "013_e2ee_system.down.sql"):
            apply_file(demo_conn, name)
        posted = wl.stats().messages_posted
        assert _wait_for(lambda: wl.stats().messages_posted > posted + 2)
        assert wl.running
    finally:
        wl.stop()
    assert not wl.running
    assert scalar(demo_conn, "SELECT count(*) FROM nchat_messages "
                             "WHERE metadata->>'source' = 'nchat-demo-app'") \
        == wl.stats().messages_posted


@pytest.mark.slow
def test_two_demo_starts_at_once_build_once(demo_home: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _i: ensure_demo(scale=0.02), range(2)))
    assert sorted(i.built for i in infos) == [False, True]
    assert infos[0].port == infos[1].port and infos[0].password == infos[1].password
