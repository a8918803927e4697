-- invalid_indexes.sql: indexes left invalid by a failed or cancelled CREATE INDEX
-- CONCURRENTLY (IF NOT EXISTS then hides them). Returns schema, index, table (as regclass
-- text, for reading), table_name (the bare name: an index lives in its table's schema),
-- definition. PostgreSQL 12+. Catalog reads only, no relation locks.
SELECT n.nspname AS schema, ic.relname AS index, i.indrelid::regclass::text AS "table",
       tc.relname AS table_name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE NOT i.indisvalid
ORDER BY n.nspname, ic.relname
