-- disabled_triggers.sql: user triggers that do not fire in normal operation (tgenabled 'D'
-- disabled; 'R' fires only in replica mode), with their table.
-- PostgreSQL 9.x+. Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, c.relname AS "table", tg.tgname AS name,
       tg.tgenabled::text AS enabled
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal
  AND tg.tgenabled IN ('D', 'R')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3
