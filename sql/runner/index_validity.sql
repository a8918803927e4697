-- index_validity.sql: whether the index a migration file names (resolved by the server with
-- the session's search_path, as the file's own statement would resolve it) exists, and if so
-- whether it is valid: an invalid one is what a killed CREATE INDEX CONCURRENTLY leaves. The
-- name is a bound parameter, so the format() patterns double their percent signs. Zero or one
-- row. PostgreSQL 9.4+. Catalog reads only.
SELECT format('%%I.%%I', n.nspname, i.relname) AS index,
       format('%%I.%%I', tn.nspname, t.relname) AS table_name,
       x.indisvalid AS valid,
       i.relpages::bigint * current_setting('block_size')::bigint AS size_bytes
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE x.indexrelid = to_regclass(%(name)s)
