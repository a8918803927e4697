-- indexes.sql: every index on user relations with its definition and state (indisvalid false
-- after a failed CREATE INDEX CONCURRENTLY; indisready). Sorted by schema, index name.
-- PostgreSQL 9.x+. Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, ic.relname AS name, t.relname AS "table",
       pg_get_indexdef(i.indexrelid) AS definition,
       i.indisvalid AS valid, i.indisready AS ready,
       i.indisunique AS "unique", i.indisprimary AS "primary"
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1, 2
