-- record_go_schema_versions.sql: record one applied file in the Go CLI's np_common.schema_versions
-- (name = the file's base name, applied_at = now(): what `nself db migrate status` reads).
-- Parameters: name. Returns nothing. PostgreSQL 9.5+.
-- Takes ROW EXCLUSIVE on np_common.schema_versions (inside the migration's own transaction).
INSERT INTO np_common.schema_versions (name) VALUES (%(name)s)
