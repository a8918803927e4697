-- nchat-tui demo: the nself Go CLI (v1.x) migration ledger, as the CLI creates it.
--
-- Returns: nothing (DDL). PostgreSQL 12+. Locks: none beyond creating the objects.
-- Idempotent. The rows (one per applied file, with the sha256 of the file) are written
-- by nchat_tui.demo.load_demo, which computes the checksums from the files themselves.
--
-- np_common.schema_versions: name = the migration file name (plugin rows may carry a
-- NULL name in the wild: the Go CLI's plugins write other columns; readers filter them).
-- nself_ops.migrations: id = the file name's prefix before the first '_'.

CREATE SCHEMA IF NOT EXISTS np_common;

CREATE TABLE IF NOT EXISTS np_common.schema_versions (
    name TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE SCHEMA IF NOT EXISTS nself_ops;

CREATE TABLE IF NOT EXISTS nself_ops.migrations (
    id TEXT PRIMARY KEY,
    name TEXT,
    checksum TEXT,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_by TEXT,
    duration_ms INTEGER,
    rolled_back_at TIMESTAMPTZ
);
