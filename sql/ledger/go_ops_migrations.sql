-- go_ops_migrations.sql: the Go CLI's audit ledger (nself_ops.migrations).
-- Returns id, name, checksum, applied_at, applied_by, duration_ms, rolled_back_at. Columns an
-- older CLI did not create arrive as NULL: the caller passes the column list built from the live
-- column list (psycopg.sql, never string pasting).
-- PostgreSQL 9.4+. Takes ACCESS SHARE on nself_ops.migrations.
SELECT {columns}
FROM nself_ops.migrations
