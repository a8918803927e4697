-- roles.sql: which of the roles a migration grants to, or names as owner, exist (roles are
-- cluster-wide). Parameter: names (text[]). Returns one row per name that exists: name.
-- PostgreSQL 9.4+. Catalog reads only.
SELECT rolname::text AS name
FROM pg_roles
WHERE rolname = ANY(%(names)s::text[])
