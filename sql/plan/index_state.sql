-- index_state.sql: whether named indexes exist and are valid (a failed CREATE INDEX
-- CONCURRENTLY leaves indisvalid = false, which IF NOT EXISTS then silently keeps).
-- Parameter: names (text[]) as written, resolved with to_regclass under the search_path.
-- Returns name, index (schema-qualified), table_name, indisvalid, indisready.
-- PostgreSQL 9.4+. Catalog reads only: takes no relation lock.
SELECT n.name,
       format('%%I.%%I', ns.nspname, i.relname) AS index,
       format('%%I.%%I', tns.nspname, t.relname) AS table_name,
       x.indisvalid,
       x.indisready
FROM unnest(%(names)s::text[]) AS n(name)
JOIN pg_class i ON i.oid = to_regclass(n.name)
JOIN pg_namespace ns ON ns.oid = i.relnamespace
JOIN pg_index x ON x.indexrelid = i.oid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace tns ON tns.oid = t.relnamespace
