-- soft_delete_columns.sql: user-table columns that mark a row as deleted or archived
-- (nChat: nchat_users.deleted_at, nchat_messages.is_deleted and deleted_at, nchat_channels
-- is_archived), with their type. PostgreSQL 9.x+. Catalog reads only: takes no lock.
SELECT n.nspname AS schema, c.relname AS "table", a.attname AS "column",
       format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attname IN ('deleted_at', 'is_deleted', 'is_archived')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2, 3
