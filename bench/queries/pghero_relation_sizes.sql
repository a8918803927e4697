-- PgHero-like "relation sizes" (after its documented behaviour, not its code): every table,
-- materialized view and index of the database with pg_table_size / pg_relation_size,
-- largest first. The size functions open each relation: they wait behind an ACCESS EXCLUSIVE
-- lock (the known PgHero hang during migrations).
SELECT n.nspname AS schema, c.relname AS relation,
       CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END AS type,
       CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END
           AS size_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND c.relkind IN ('r', 'm', 'i')
ORDER BY 4 DESC, 2
