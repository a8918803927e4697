"""Post-migration verification on real PostgreSQL: a real backup (the before-snapshot), the real
runner applying seed 004's E2EE migration, then ``verify_upgrade`` and ``nchat-tui verify``.

The schema is a small nChat-like one (users, channels, messages with their soft-delete columns
and row-level security); the upgrade file is seed 004's own DDL for migration 014 (seven E2EE
tables, the prekey-bundle materialized view with its refresh triggers, the new columns on
nchat_messages and nchat_channels), so the seed-004 checks run on what the guide describes.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.backup.engine import manifest_path_for, run_backup
from nchat_tui.cli.main import main
from nchat_tui.migrate.runner import Runner, RunOptions
from nchat_tui.pg.snapshot import schema_inventory
from nchat_tui.pg.target import Target
from nchat_tui.verify.engine import diff_inventory, diff_is_empty, verify_upgrade

BASE_SQL = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE nchat_users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username TEXT NOT NULL UNIQUE,
    deleted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE nchat_channels (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    is_archived BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE nchat_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    content TEXT,
    is_deleted BOOLEAN NOT NULL DEFAULT false,
    deleted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_messages_channel ON nchat_messages(channel_id, created_at);
CREATE TABLE nchat_audit_logs (id BIGSERIAL PRIMARY KEY, action TEXT NOT NULL,
                               created_at TIMESTAMPTZ NOT NULL DEFAULT now());
ALTER TABLE nchat_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_none ON nchat_messages USING (false);
"""

# Seed 004, "New Database Tables" and "Table Modifications", as the guide gives them.
E2EE_SQL = """
CREATE TABLE nchat_user_master_keys (
    user_id UUID PRIMARY KEY REFERENCES nchat_users(id) ON DELETE CASCADE,
    master_key_salt BYTEA NOT NULL,
    pbkdf2_iterations INTEGER NOT NULL DEFAULT 100000,
    recovery_code_hash TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_user_master_keys_user_id ON nchat_user_master_keys(user_id);
CREATE TABLE nchat_identity_keys (
    device_id TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    identity_key_public BYTEA NOT NULL,
    identity_key_private_encrypted BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(user_id, device_id)
);
CREATE INDEX idx_identity_keys_user_id ON nchat_identity_keys(user_id);
CREATE INDEX idx_identity_keys_device_id ON nchat_identity_keys(device_id);
CREATE TABLE nchat_signed_prekeys (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    signed_prekey_id INTEGER NOT NULL,
    signed_prekey_public BYTEA NOT NULL,
    signed_prekey_private_encrypted BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    rotation_date TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, signed_prekey_id)
);
CREATE INDEX idx_signed_prekeys_device_id ON nchat_signed_prekeys(device_id);
CREATE INDEX idx_signed_prekeys_active ON nchat_signed_prekeys(device_id, is_active);
CREATE INDEX idx_signed_prekeys_rotation ON nchat_signed_prekeys(rotation_date)
    WHERE is_active = TRUE;
CREATE TABLE nchat_one_time_prekeys (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    prekey_id INTEGER NOT NULL,
    prekey_public BYTEA NOT NULL,
    prekey_private_encrypted BYTEA NOT NULL,
    is_consumed BOOLEAN NOT NULL DEFAULT FALSE,
    consumed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, prekey_id)
);
CREATE INDEX idx_one_time_prekeys_device_id ON nchat_one_time_prekeys(device_id);
CREATE INDEX idx_one_time_prekeys_available ON nchat_one_time_prekeys(device_id, is_consumed)
    WHERE is_consumed = FALSE;
CREATE INDEX idx_one_time_prekeys_consumed ON nchat_one_time_prekeys(consumed_at)
    WHERE is_consumed = TRUE;
CREATE TABLE nchat_signal_sessions (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    peer_user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    peer_device_id TEXT NOT NULL,
    session_state_encrypted BYTEA NOT NULL,
    is_initiator BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    last_message_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, peer_user_id, peer_device_id)
);
CREATE INDEX idx_signal_sessions_device_id ON nchat_signal_sessions(device_id);
CREATE INDEX idx_signal_sessions_peer ON nchat_signal_sessions(peer_user_id, peer_device_id);
CREATE INDEX idx_signal_sessions_active ON nchat_signal_sessions(device_id, is_active);
CREATE INDEX idx_signal_sessions_last_message ON nchat_signal_sessions(last_message_at)
    WHERE is_active = TRUE;
CREATE TABLE nchat_safety_numbers (
    id SERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    peer_user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    safety_number TEXT NOT NULL,
    verified_at TIMESTAMP WITH TIME ZONE,
    verification_method TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(user_id, peer_user_id),
    CHECK (LENGTH(safety_number) = 60),
    CHECK (verification_method IN ('manual', 'qr_code', 'out_of_band', NULL))
);
CREATE INDEX idx_safety_numbers_user_id ON nchat_safety_numbers(user_id);
CREATE INDEX idx_safety_numbers_peer_user_id ON nchat_safety_numbers(peer_user_id);
CREATE INDEX idx_safety_numbers_verified ON nchat_safety_numbers(user_id, verified_at)
    WHERE verified_at IS NOT NULL;
CREATE TABLE nchat_e2ee_audit_log (
    id SERIAL PRIMARY KEY,
    event_type TEXT NOT NULL,
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    device_id TEXT,
    metadata JSONB,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CHECK (event_type IN ('master_key_created', 'device_keys_generated', 'session_established',
        'session_destroyed', 'signed_prekey_rotated', 'prekeys_replenished',
        'safety_number_verified', 'safety_number_changed', 'recovery_code_used'))
);
CREATE INDEX idx_e2ee_audit_log_user_id ON nchat_e2ee_audit_log(user_id);
CREATE INDEX idx_e2ee_audit_log_device_id ON nchat_e2ee_audit_log(device_id);
CREATE INDEX idx_e2ee_audit_log_event_type ON nchat_e2ee_audit_log(event_type);
CREATE INDEX idx_e2ee_audit_log_created_at ON nchat_e2ee_audit_log(created_at DESC);
CREATE MATERIALIZED VIEW nchat_prekey_bundles AS
SELECT ik.user_id, ik.device_id, ik.identity_key_public, sp.signed_prekey_id,
       sp.signed_prekey_public, sp.signature,
       otp.prekey_id AS one_time_prekey_id, otp.prekey_public AS one_time_prekey_public
FROM nchat_identity_keys ik
JOIN nchat_signed_prekeys sp ON ik.device_id = sp.device_id AND sp.is_active = TRUE
LEFT JOIN LATERAL (
    SELECT prekey_id, prekey_public FROM nchat_one_time_prekeys
    WHERE device_id = ik.device_id AND is_consumed = FALSE
    ORDER BY created_at ASC LIMIT 1
) otp ON TRUE;
CREATE UNIQUE INDEX idx_prekey_bundles_device ON nchat_prekey_bundles(device_id);
CREATE INDEX idx_prekey_bundles_user ON nchat_prekey_bundles(user_id);
CREATE OR REPLACE FUNCTION refresh_prekey_bundles()
RETURNS TRIGGER AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY nchat_prekey_bundles;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER refresh_prekey_bundles_on_identity_key
    AFTER INSERT OR UPDATE OR DELETE ON nchat_identity_keys
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_prekey_bundles();
CREATE TRIGGER refresh_prekey_bundles_on_signed_prekey
    AFTER INSERT OR UPDATE OR DELETE ON nchat_signed_prekeys
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_prekey_bundles();
CREATE TRIGGER refresh_prekey_bundles_on_one_time_prekey
    AFTER INSERT OR UPDATE ON nchat_one_time_prekeys
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_prekey_bundles();
ALTER TABLE nchat_messages
    ADD COLUMN IF NOT EXISTS is_encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS encrypted_payload BYTEA,
    ADD COLUMN IF NOT EXISTS sender_device_id TEXT;
ALTER TABLE nchat_messages
    ADD CONSTRAINT fk_messages_sender_device
    FOREIGN KEY (sender_device_id) REFERENCES nchat_identity_keys(device_id)
    ON DELETE SET NULL;
CREATE INDEX idx_messages_encrypted ON nchat_messages(channel_id, is_encrypted)
    WHERE is_encrypted = TRUE;
CREATE INDEX idx_messages_sender_device ON nchat_messages(sender_device_id)
    WHERE sender_device_id IS NOT NULL;
ALTER TABLE nchat_channels
    ADD COLUMN IF NOT EXISTS enforce_encryption BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX idx_channels_enforce_encryption ON nchat_channels(enforce_encryption)
    WHERE enforce_encryption = TRUE;
"""

# Seed 004, "Option 2: Manual Rollback", plus the indexes and constraint on the old tables.
E2EE_DOWN_SQL = """
DROP MATERIALIZED VIEW IF EXISTS nchat_prekey_bundles CASCADE;
DROP FUNCTION IF EXISTS refresh_prekey_bundles() CASCADE;
DROP TABLE IF EXISTS nchat_e2ee_audit_log CASCADE;
DROP TABLE IF EXISTS nchat_safety_numbers CASCADE;
DROP TABLE IF EXISTS nchat_signal_sessions CASCADE;
DROP TABLE IF EXISTS nchat_one_time_prekeys CASCADE;
DROP TABLE IF EXISTS nchat_signed_prekeys CASCADE;
DROP INDEX IF EXISTS idx_messages_encrypted;
DROP INDEX IF EXISTS idx_messages_sender_device;
DROP INDEX IF EXISTS idx_channels_enforce_encryption;
ALTER TABLE nchat_messages DROP CONSTRAINT IF EXISTS fk_messages_sender_device;
DROP TABLE IF EXISTS nchat_identity_keys CASCADE;
DROP TABLE IF EXISTS nchat_user_master_keys CASCADE;
ALTER TABLE nchat_messages
    DROP COLUMN IF EXISTS is_encrypted,
    DROP COLUMN IF EXISTS encrypted_payload,
    DROP COLUMN IF EXISTS sender_device_id;
ALTER TABLE nchat_channels DROP COLUMN IF EXISTS enforce_encryption;
"""

SEED_DATA_SQL = """
INSERT INTO nchat_users (username, deleted_at)
SELECT 'user' || g, CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, 40) g;
INSERT INTO nchat_channels (name, is_archived)
SELECT 'channel' || g, g = 6 FROM generate_series(1, 6) g;
INSERT INTO nchat_messages (channel_id, user_id, content, is_deleted, deleted_at)
SELECT c.id, u.id, 'hello ' || g, g % 25 = 0, CASE WHEN g % 25 = 0 THEN now() END
FROM generate_series(1, 300) g
JOIN LATERAL (SELECT id FROM nchat_channels ORDER BY name OFFSET (g % 6) LIMIT 1) c ON true
JOIN LATERAL (SELECT id FROM nchat_users ORDER BY username OFFSET (g % 40) LIMIT 1) u ON true;
INSERT INTO nchat_audit_logs (action) SELECT 'login' FROM generate_series(1, 25);
"""


def nchat_migrations(root: Path) -> Path:
    """A migrations folder: the base schema (001) and seed 004's E2EE migration (014)."""
    mdir = root / "migrations"
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "001_base.sql").write_text(BASE_SQL)
    (mdir / "014_e2ee_system.sql").write_text(E2EE_SQL)
    (mdir / "014_e2ee_system.down.sql").write_text(E2EE_DOWN_SQL)
    return mdir


def with_migrations(target: Target, mdir: Path) -> Target:
    return Target(**{**target.__dict__, "migrations_dir": mdir})


def run_up(target: Target, to_version: str | None = None, gate: bool = True) -> None:
    res = Runner(target, RunOptions(to_version=to_version, gate=gate)).run()
    assert res.status in ("ok", "nothing_to_do"), res.to_dict()


def prepare_v030(target: Target, tmp_path: Path) -> Target:
    """The "v0.3" database: base schema applied and recorded, data loaded."""
    t = with_migrations(target, nchat_migrations(tmp_path))
    run_up(t, to_version="1", gate=False)
    with t.connect("test seed") as conn:
        conn.execute(SEED_DATA_SQL)
        conn.execute("ANALYZE")
    # No pause before the backup: the gate orders the backup's snapshot (microseconds, the
    # server's clock) against the ledger's latest change, even within one second.
    return t


def backup_then_upgrade(target: Target, tmp_path: Path) -> tuple[Target, Path]:
    """v0.3 database, verified backup (the before-snapshot), then the real runner's upgrade."""
    t = prepare_v030(target, tmp_path)
    b = run_backup(t)
    run_up(t)
    return t, Path(b.path)


@pytest.fixture
def upgraded(target: Target, tmp_path: Path) -> tuple[Target, Path]:
    return backup_then_upgrade(target, tmp_path)


def test_clean_upgrade_passes(upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    rep = verify_upgrade(t)
    assert rep.ok, [(c.id, c.summary) for c in rep.failed()]
    ids = {c.id: c for c in rep.checks}
    assert rep.applied == ["014_e2ee_system.sql"]
    assert ids["schema.expected"].status == "ok"
    assert ids["schema.expected"].evidence["expected"] > 60  # tables, columns, indexes, ...
    assert ids["schema.unexpected"].status == "ok", ids["schema.unexpected"].summary
    assert ids["data.row_counts"].status == "ok"
    counted = {r["table"]: r for r in ids["data.row_counts"].evidence["tables"]}
    assert counted["public.nchat_messages"]["after"] == 300
    assert counted["public.nchat_messages"]["method"] == "exact"
    soft = {(c["table"], c["column"]): c for c in ids["data.soft_deleted"].evidence["columns"]}
    assert soft[("public.nchat_users", "deleted_at")]["flagged"] == 4
    assert soft[("public.nchat_messages", "is_deleted")]["flagged"] == 12
    assert soft[("public.nchat_channels", "is_archived")]["flagged"] == 1
    assert ids["seed004.messages"].status == "ok"
    assert ids["seed004.messages"].evidence["unencrypted"] == 300
    assert ids["seed004.channels"].evidence["non_enforced"] == 6
    assert ids["seed004.messages"].evidence["recognition"]["files"] == ["014_e2ee_system.sql"]
    fks = ids["schema.foreign_keys"].evidence["foreign_keys"]
    assert len(fks) == 10
    assert {f["live_on_delete"] for f in fks} == {"CASCADE", "SET NULL"}
    assert ids["seed004.new_indexes"].status == "ok"
    assert len(ids["seed004.new_indexes"].evidence["indexes"]) >= 15
    assert ids["health.ledger"].status == "ok"
    assert ids["health.invalid_indexes"].status == "ok"
    assert ids["app.health"].status == "skipped"


def test_deleted_row_fails_naming_the_table(upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    with t.connect("test") as conn:
        conn.execute("DELETE FROM nchat_users WHERE username = 'user7'")
    rep = verify_upgrade(t)
    assert not rep.ok
    failed = {c.id: c for c in rep.failed()}
    assert list(failed) == ["data.row_counts"]
    assert "public.nchat_users has 39 row(s), 40 before" in failed["data.row_counts"].summary
    assert "superuser" in failed["data.row_counts"].summary  # who counted


def test_dropped_index_fails_naming_it(upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    with t.connect("test") as conn:
        conn.execute("DROP INDEX idx_signal_sessions_peer")
    rep = verify_upgrade(t)
    failed = {c.id: c for c in rep.failed()}
    assert "schema.expected" in failed
    assert "index public.idx_signal_sessions_peer missing" in failed["schema.expected"].summary


def test_dropped_preexisting_index_is_unexpected(upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    with t.connect("test") as conn:
        conn.execute("DROP INDEX idx_messages_channel")
    rep = verify_upgrade(t)
    failed = {c.id: c for c in rep.failed()}
    assert list(failed) == ["schema.unexpected"]
    assert "indexes public.idx_messages_channel removed" in failed["schema.unexpected"].summary


def test_invalid_index_fails_naming_it(upgraded: tuple[Target, Path]) -> None:
    """A CREATE UNIQUE INDEX CONCURRENTLY that failed on duplicates leaves an invalid index."""
    t, _ = upgraded
    with t.connect("test") as conn:
        conn.execute("DROP INDEX idx_identity_keys_user_id")
        uid = conn.execute("SELECT id FROM nchat_users LIMIT 1").fetchone()[0]  # type: ignore
        conn.execute("INSERT INTO nchat_identity_keys (device_id, user_id, identity_key_public, "
                     "identity_key_private_encrypted) VALUES ('d1', %s, 'x', 'y'), "
                     "('d2', %s, 'x', 'y')", (uid, uid))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_identity_keys_user_id "
                         "ON nchat_identity_keys(user_id)")
    rep = verify_upgrade(t)
    failed = {c.id: c for c in rep.failed()}
    assert "public.idx_identity_keys_user_id on nchat_identity_keys" in \
        failed["health.invalid_indexes"].summary
    assert "index public.idx_identity_keys_user_id invalid" in failed["schema.expected"].summary


def test_unexpected_addition_warns_and_migration_delete_explains(
        upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    with t.connect("test") as conn:
        conn.execute("CREATE TABLE someone_elses (id int)")
    rep = verify_upgrade(t)
    assert rep.ok
    c = rep.check("schema.unexpected")
    assert c is not None and c.status == "warn"
    assert "tables public.someone_elses added" in c.summary


class _Health(BaseHTTPRequestHandler):
    body: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def health_server() -> Any:
    srv = HTTPServer(("127.0.0.1", 0), _Health)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_health_url_status_and_version(upgraded: tuple[Target, Path], health_server: Any,
                                       tmp_path: Path) -> None:
    t, _ = upgraded
    url = f"http://127.0.0.1:{health_server.server_address[1]}/api/health"
    _Health.body = json.dumps({"status": "healthy", "version": "0.4.0"}).encode()
    rep = verify_upgrade(t, health_url=url)
    assert rep.check("app.health").status == "ok"  # type: ignore[union-attr]
    _Health.body = json.dumps({"status": "ok", "version": "0.3.2"}).encode()
    rep = verify_upgrade(t, health_url=url)
    c = rep.check("app.health")
    assert c is not None and c.status == "failed" and "0.3.2, not 0.4.0" in c.summary
    _Health.body = json.dumps({"status": "degraded"}).encode()
    c = verify_upgrade(t, health_url=url).check("app.health")
    assert c is not None and c.status == "failed" and "degraded" in c.summary


def test_cli_verify_exit_codes(upgraded: tuple[Target, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    t, dump = upgraded
    dsn = t.conninfo()
    common = ["--dsn", dsn, "--migrations", str(t.migrations_dir), "--backup-dir",
              str(t.backup_dir), "--state-dir", str(t.state_dir)]
    assert main([*common, "verify", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and any(c["id"] == "seed004.new_indexes" for c in out["checks"])
    with t.connect("test") as conn:
        conn.execute("DELETE FROM nchat_users WHERE username = 'user3'")
    manifest = str(manifest_path_for(dump))
    assert main([*common, "verify", "--against", manifest]) == 1
    text = capsys.readouterr()
    assert "nchat_users" in text.out
    assert "test-secret-pw" not in text.out + text.err


def test_diff_inventory_ignores_sequence_positions(pg_conn: psycopg.Connection[Any]) -> None:
    pg_conn.execute("CREATE TABLE t (id serial primary key)")
    a = schema_inventory(pg_conn)
    pg_conn.execute("INSERT INTO t DEFAULT VALUES")
    b = schema_inventory(pg_conn)
    assert diff_is_empty(diff_inventory(a, b))
    pg_conn.execute("CREATE INDEX t_i ON t(id)")
    d = diff_inventory(a, schema_inventory(pg_conn))
    assert list(d["indexes"]["added"]) == ["public.t_i"]


def test_demo_backup_migrate_verify_cli(pg_db: dict[str, str], target: Target,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's "done when": backup, migrate and verify on the demo exit 0; deleting one
    nchat_users row makes verify exit 1 naming nchat_users."""
    from nchat_tui.demo.builder import default_migrations_dir, load_demo

    load_demo(pg_db, scale=0.02)
    t = with_migrations(target, default_migrations_dir())
    common = ["--dsn", t.conninfo(), "--migrations", str(t.migrations_dir), "--backup-dir",
              str(t.backup_dir), "--state-dir", str(t.state_dir)]
    assert main([*common, "backup", "--json"]) == 0
    assert main([*common, "migrate", "--yes", "--json"]) == 0
    capsys.readouterr()
    rc = main([*common, "verify", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, [(c["id"], c["summary"]) for c in out["checks"] if c["status"] == "failed"]
    assert out["applied"] == ["013_e2ee_system.sql", "014_e2ee_system.sql",
                              "015_voice_calls.sql", "016_live_streaming.sql"]
    with t.connect("test") as conn:
        # One row lost, and only that row: foreign-key actions (triggers) are off for it.
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM nchat_users WHERE id = (SELECT id FROM nchat_users LIMIT 1)")
    assert main([*common, "verify"]) == 1
    text = capsys.readouterr().out
    assert "[FAIL] data.row_counts" in text and "public.nchat_users has" in text


def test_checklist_actions(upgraded: tuple[Target, Path]) -> None:
    from nchat_tui.state.journal import Journal
    from nchat_tui.upgrade.actions import ActionContext, Progress
    from nchat_tui.verify.engine import act_verify_data, act_verify_schema

    t, _ = upgraded
    seen: list[Progress] = []
    ctx = ActionContext(t, Journal.for_target(t.state_dir, t.masked()), progress=seen.append)
    res = act_verify_schema(ctx)
    assert res.status == "warn"  # the new tables were never analyzed
    assert {c["id"] for c in res.evidence["checks"]} >= {"schema.expected", "health.ledger",
                                                          "seed004.new_indexes"}
    assert seen and seen[-1].fraction == 1.0
    with t.connect("test") as conn:
        conn.execute("DELETE FROM nchat_audit_logs WHERE id = 1")
    res = act_verify_data(ctx)
    assert res.status == "failed" and "public.nchat_audit_logs" in res.summary


def test_no_schema_change_passes_with_nothing_applied(target: Target, tmp_path: Path) -> None:
    t = prepare_v030(target, tmp_path)
    run_backup(t)
    rep = verify_upgrade(t)
    assert rep.ok and rep.applied == []
    c = rep.check("seed004.messages")  # not the v0.4.0 upgrade: skipped, saying why
    assert c is not None and c.status == "skipped"
    assert "no migration file was applied" in c.summary
    ledger = rep.check("health.ledger")
    assert ledger is not None and ledger.evidence["pending"] == ["014_e2ee_system.sql"]
