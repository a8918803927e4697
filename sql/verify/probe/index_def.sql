-- index_def.sql: how PostgreSQL reads back an index of this session's temporary schema
-- (parameter name). One row. Catalog reads only: no lock.
SELECT pg_get_indexdef(c.oid)
FROM pg_class c
WHERE c.relname = %(name)s AND c.relnamespace = pg_my_temp_schema()
