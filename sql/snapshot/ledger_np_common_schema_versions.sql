-- ledger_np_common_schema_versions.sql: every row of the Go CLI's np_common.schema_versions as
-- JSON (columns differ between versions; rows with name NULL are plugins' and kept as they are).
-- Sorted by the row's text. PostgreSQL 9.4+. Run only when the table exists. ACCESS SHARE.
SELECT row_to_json(t)::text AS row FROM np_common.schema_versions t ORDER BY 1
