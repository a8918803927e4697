-- ledger_nself_ops_migrations.sql: every row of the Go CLI's nself_ops.migrations as JSON.
-- Sorted by the row's text. PostgreSQL 9.4+. Run only when the table exists. ACCESS SHARE.
SELECT row_to_json(t)::text AS row FROM nself_ops.migrations t ORDER BY 1
