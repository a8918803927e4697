-- domain_base_type.sql: a domain's base type as format_type writes it (parameters schema and
-- domain name). One row, or none when the domain is not there. Catalog reads only: no lock.
SELECT format_type(t.typbasetype, t.typtypmod)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = %(schema)s AND t.typname = %(name)s AND t.typtype = 'd'
