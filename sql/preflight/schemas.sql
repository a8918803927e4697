-- schemas.sql: which of the schemas a migration needs exist. Parameter: names (text[]).
-- Returns one row per name that exists: name. PostgreSQL 9.4+. Catalog reads only.
SELECT nspname::text AS name
FROM pg_namespace
WHERE nspname = ANY(%(names)s::text[])
