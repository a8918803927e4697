-- schema_migrations.sql: rows of a schema_migrations ledger (the Bash CLI's
-- version/name/applied_at or the guides' version/executed_at).
-- Returns version (text), name (text or NULL), applied_at. The table and the name and time
-- columns are filled in by the caller (psycopg.sql.Identifier, or NULL when absent).
-- PostgreSQL 9.4+. Takes ACCESS SHARE on the table.
SELECT version::text AS version, {name_col}::text AS name, {at_col}::timestamptz AS applied_at
FROM {table}
ORDER BY 3, 1
