-- extensions.sql: installed extensions with version and schema, sorted by name.
-- PostgreSQL 9.1+. Takes no lock.
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY 1
