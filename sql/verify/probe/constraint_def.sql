-- constraint_def.sql: how PostgreSQL reads back a constraint of this session's temporary schema
-- (parameter name). One row. Catalog reads only: no lock.
SELECT pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conname = %(name)s AND connamespace = pg_my_temp_schema()
