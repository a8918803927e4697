-- record_go_ops.sql: record one applied file in the Go CLI's audit ledger nself_ops.migrations:
-- id = the file name without ".sql" (the current Go CLI; older ones used the prefix before the
-- first "_", which files sharing a version prefix collided on), name = file name, checksum =
-- sha256 hex of the file, and (our additions to the columns the CLI created) applied_by,
-- duration_ms. A row left by an earlier apply of the same id is replaced, as the Go CLI's
-- ON CONFLICT (id) DO UPDATE does (it also sets applied_at = now(), rolled_back_at = NULL). The caller fills the
-- column list, the values and the update list with the columns this table really has (an older
-- CLI created it without applied_by/duration_ms/rolled_back_at), via psycopg.sql.
-- Parameters: id, name, checksum, applied_by, duration_ms. Returns nothing. PostgreSQL 9.5+.
-- Takes ROW EXCLUSIVE on nself_ops.migrations (inside the migration's own transaction).
INSERT INTO nself_ops.migrations ({columns})
VALUES ({values})
ON CONFLICT (id) DO UPDATE SET {updates}
