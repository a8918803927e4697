-- invalid_indexes.sql: indexes left invalid (a failed or cancelled CREATE/REINDEX
-- CONCURRENTLY). Returns index (schema-qualified, quoted), table_name, size_bytes (relpages *
-- block size: no lock). PostgreSQL 9.4+. Catalog reads only.
SELECT format('%I.%I', n.nspname, i.relname) AS index,
       format('%I.%I', tn.nspname, t.relname) AS table_name,
       i.relpages::bigint * current_setting('block_size')::bigint AS size_bytes
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE NOT x.indisvalid
ORDER BY 1
