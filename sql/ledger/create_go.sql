-- create_go.sql: create the nself Go CLI's two ledger tables, exactly as the CLI does, when
-- missing (a deployment without any ledger gets the Go one). Returns nothing.
-- PostgreSQL 9.5+. Takes no lock on existing tables; creating takes the usual catalog locks.
CREATE SCHEMA IF NOT EXISTS np_common;
CREATE TABLE IF NOT EXISTS np_common.schema_versions (
    name TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE SCHEMA IF NOT EXISTS nself_ops;
CREATE TABLE IF NOT EXISTS nself_ops.migrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_by TEXT,
    duration_ms INT,
    rolled_back_at TIMESTAMPTZ
);
