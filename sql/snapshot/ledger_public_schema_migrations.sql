-- ledger_public_schema_migrations.sql: every row of public.schema_migrations (Bash CLI: version,
-- name, applied_at; the guides: version, executed_at) as JSON. Sorted by the row's text.
-- PostgreSQL 9.4+. Run only when the table exists. ACCESS SHARE.
SELECT row_to_json(t)::text AS row FROM public.schema_migrations t ORDER BY 1
