-- soft_delete_columns.sql: user tables that mark rows deleted instead of deleting them.
-- Returns schema, table and column for every deleted_at / is_deleted / archived_at /
-- is_archived column, with its type name (timestamp columns mean "deleted when not NULL",
-- boolean ones "deleted when true"). PostgreSQL 12+. Catalog reads only, no relation locks.
SELECT n.nspname AS schema, c.relname AS "table", a.attname AS "column",
       format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid = 'boolean'::regtype AS is_boolean
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attname IN ('deleted_at', 'is_deleted', 'archived_at', 'is_archived')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n.nspname, c.relname, a.attname
