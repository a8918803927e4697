-- triggers.sql: user (non-internal) triggers with their table, definition and enabled state
-- (O origin/local, D disabled, R replica, A always). Sorted by schema, table, name.
-- PostgreSQL 9.x+. Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, c.relname AS "table", tg.tgname AS name,
       tg.tgenabled::text AS enabled, pg_get_triggerdef(tg.oid) AS definition
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2, 3
