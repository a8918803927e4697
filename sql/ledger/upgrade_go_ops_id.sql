-- upgrade_go_ops_id.sql: before recording a file, give its own nself_ops.migrations row (left
-- by an older nself CLI, which keyed the table by the version prefix: id '20260207', shared by
-- every file of that day) the unique id the current Go CLI uses, the file name without ".sql",
-- as that CLI's ledger upgrade does; the insert that follows then updates that row instead of
-- adding a second one for the same file. Rows of other files are left as they are (the Go CLI
-- upgrades them itself on its next run). Never creates a key conflict.
-- Parameters: name (the file name), id (its new id). Returns nothing. PostgreSQL 9.4+.
-- Takes ROW EXCLUSIVE on nself_ops.migrations (inside the migration's own transaction).
UPDATE nself_ops.migrations m
SET id = %(id)s
WHERE m.name = %(name)s
  AND m.id <> %(id)s
  AND NOT EXISTS (SELECT 1 FROM nself_ops.migrations m2 WHERE m2.id = %(id)s)
