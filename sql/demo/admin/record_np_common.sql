-- record_np_common.sql: one applied migration in the np_common ledger (parameters name and
-- applied_at), as the demo's history has it.
INSERT INTO np_common.schema_versions (name, applied_at) VALUES (%(name)s, %(applied_at)s)
