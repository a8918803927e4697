-- table_sizes.sql: on-disk size (heap + TOAST, no indexes) of every user table with rows of its
-- own (relkind 'r'), used to weight dump and restore progress. Sorted by schema, name.
-- PostgreSQL 10+. pg_table_size takes ACCESS SHARE on each table: run it only after the
-- snapshot transaction locked them (it then never waits).
SELECT n.nspname AS schema, c.relname AS name, pg_table_size(c.oid) AS bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
