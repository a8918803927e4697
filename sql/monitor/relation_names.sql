-- relation_names.sql: the names of relations by oid in the connected database (parameter oids,
-- a list), for locks seen from another database. One row per oid found. Catalog reads only.
SELECT c.oid::bigint, c.oid::regclass::text
FROM pg_class c
WHERE c.oid = ANY(%(oids)s::oid[])
