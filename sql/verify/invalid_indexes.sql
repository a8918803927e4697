-- invalid_indexes.sql: indexes that are not valid or not ready (left behind by a failed or
-- cancelled CREATE INDEX CONCURRENTLY, or mid-build), with their table and definition.
-- PostgreSQL 9.x+. Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, ic.relname AS name, t.relname AS "table",
       i.indisvalid AS valid, i.indisready AS ready,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE (NOT i.indisvalid OR NOT i.indisready)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2
