-- not_valid_constraints.sql: constraints added NOT VALID and never validated (existing rows
-- were not checked), with their table and definition.
-- PostgreSQL 9.2+. Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, COALESCE(c.relname, t.typname) AS owner_object,
       co.conname AS name, co.contype::text AS type,
       pg_get_constraintdef(co.oid) AS definition
FROM pg_constraint co
JOIN pg_namespace n ON n.oid = co.connamespace
LEFT JOIN pg_class c ON c.oid = co.conrelid
LEFT JOIN pg_type t ON t.oid = co.contypid
WHERE NOT co.convalidated
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3
