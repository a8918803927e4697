-- delete_go_ops.sql: forget one reverted file in nself_ops.migrations (as the Go CLI's own
-- `migrate down` does: it deletes from both ledgers). Matches by name, or by id for a row
-- recorded without a name. Parameters: name, id. Returns nothing.
-- PostgreSQL 9.5+. Takes ROW EXCLUSIVE on nself_ops.migrations.
DELETE FROM nself_ops.migrations
WHERE name = %(name)s OR (id = %(id)s AND (name IS NULL OR name = ''))
