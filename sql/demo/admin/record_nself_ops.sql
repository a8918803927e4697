-- record_nself_ops.sql: one applied migration in the Go CLI's ledger (parameters id, name,
-- checksum, applied_at, applied_by, duration_ms), as the demo's history has it.
INSERT INTO nself_ops.migrations (id, name, checksum, applied_at, applied_by, duration_ms)
VALUES (%(id)s, %(name)s, %(checksum)s, %(applied_at)s, %(applied_by)s, %(duration_ms)s)
