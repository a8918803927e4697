-- type_oids.sql: the types a migration writes for its columns ("uuid", "pg_catalog.varchar",
-- "text[]"), resolved as the server would (to_regtype; NULL when the type does not exist now).
-- Parameter: names (text[]). Returns one row per name: name, oid, formatted.
-- PostgreSQL 9.4+. Catalog reads only.
SELECT q.name, to_regtype(q.name)::oid::bigint AS oid,
       format_type(to_regtype(q.name)::oid, NULL) AS formatted
FROM unnest(%(names)s::text[]) AS q(name)
