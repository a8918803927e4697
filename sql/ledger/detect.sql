-- detect.sql: the migration ledger tables that exist in this database, with their columns.
-- Returns one row per table found: candidate (the name looked up), oid, schema_name, table_name,
-- columns (text[] in ordinal order, from information_schema.columns: only columns we may see),
-- types (text[]: each column's data_type, same order).
-- Candidates: the Go CLI's np_common.schema_versions and nself_ops.migrations, the Bash CLI's
-- public.schema_migrations, and the guides' unqualified schema_migrations (search_path).
-- PostgreSQL 9.4+ (to_regclass). Takes no relation locks: catalog reads only.
SELECT c.candidate,
       cl.oid::bigint AS oid,
       n.nspname::text AS schema_name,
       cl.relname::text AS table_name,
       ARRAY(
           SELECT ic.column_name::text
           FROM information_schema.columns ic
           WHERE ic.table_schema = n.nspname AND ic.table_name = cl.relname
           ORDER BY ic.ordinal_position
       ) AS columns,
       ARRAY(
           SELECT ic.data_type::text
           FROM information_schema.columns ic
           WHERE ic.table_schema = n.nspname AND ic.table_name = cl.relname
           ORDER BY ic.ordinal_position
       ) AS types
FROM unnest(ARRAY['np_common.schema_versions', 'nself_ops.migrations',
                  'public.schema_migrations', 'schema_migrations']) WITH ORDINALITY
         AS c(candidate, ord)
JOIN pg_class cl ON cl.oid = to_regclass(c.candidate)
JOIN pg_namespace n ON n.oid = cl.relnamespace
ORDER BY c.ord
