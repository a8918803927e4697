-- go_schema_versions.sql: the Go CLI's applied migrations (np_common.schema_versions).
-- Returns name, applied_at. Rows with name IS NULL belong to plugins (the table is shared with
-- the plugin system's per-plugin version tracking) and are filtered out.
-- PostgreSQL 9.4+. Takes ACCESS SHARE on np_common.schema_versions.
SELECT name::text AS name, applied_at
FROM np_common.schema_versions
WHERE name IS NOT NULL
ORDER BY applied_at, name
