-- record_schema_migrations.sql: record one applied file in a schema_migrations ledger (Bash CLI:
-- version + name, applied_at by default; guides: version, executed_at by default). The caller
-- fills the table, column and value lists from the detected columns (psycopg.sql).
-- Parameters: version, name. Returns nothing. PostgreSQL 9.5+.
-- Takes ROW EXCLUSIVE on the table (inside the migration's own transaction).
INSERT INTO {table} ({columns}) VALUES ({values})
