-- matviews.sql: materialized views, whether they are populated, and the name of a unique
-- index that allows REFRESH ... CONCURRENTLY (valid, not partial, on plain columns only), if
-- any. PostgreSQL 9.4+. Catalog reads only: takes no lock.
SELECT n.nspname AS schema, c.relname AS name, c.relispopulated AS populated,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
           AND i.indpred IS NULL AND i.indexprs IS NULL
         ORDER BY ic.relname LIMIT 1) AS unique_index
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
