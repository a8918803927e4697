-- PgHero-like "table sizes" (after its documented behaviour): every table with
-- pg_total_relation_size, largest first. Waits behind an ACCESS EXCLUSIVE lock.
SELECT n.nspname AS schema, c.relname AS table, pg_total_relation_size(c.oid) AS size_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND c.relkind IN ('r', 'm')
ORDER BY 3 DESC, 2
