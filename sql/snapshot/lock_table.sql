-- lock_table.sql: take ACCESS SHARE on one table for the rest of the snapshot transaction (what
-- pg_dump takes), so no DDL can change it between the exported snapshot and pg_dump's own lock.
-- A template: the table is filled in with psycopg.sql.Identifier(schema, name). Any PostgreSQL.
-- Returns nothing.
-- Bounded by the transaction's lock_timeout.
LOCK TABLE {table} IN ACCESS SHARE MODE
