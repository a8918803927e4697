-- scratch_databases.sql: databases this tool created for a test restore (name prefix
-- nchat_tui_verify_ AND the comment nchat-tui wrote on them), with that comment, for leftover
-- detection after a crash. PostgreSQL 9.x+. Takes no lock.
SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS comment
FROM pg_database d
WHERE d.datname LIKE 'nchat\_tui\_verify\_%'
  AND shobj_description(d.oid, 'pg_database') LIKE 'nchat-tui scratch:%'
ORDER BY 1
