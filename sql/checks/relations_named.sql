-- relations_named.sql: which of the given (schema, name) pairs name a relation here (tables,
-- partitioned tables, views, materialized views, foreign tables). Parameters: schemas and
-- names (text arrays of the same length, pair by pair). Returns schema, name of each pair that
-- exists. Any PostgreSQL 9.4+. Catalog reads only: takes no lock.
SELECT n.nspname::text AS schema, c.relname::text AS name
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS w(schema, name)
JOIN pg_namespace n ON n.nspname = w.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
