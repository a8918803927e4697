-- trigger_def.sql: how PostgreSQL reads back a trigger on a table of this session's temporary
-- schema (parameter name). One row. Catalog reads only: no lock.
SELECT pg_get_triggerdef(t.oid)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
WHERE t.tgname = %(name)s AND c.relnamespace = pg_my_temp_schema()
