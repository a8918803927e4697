-- pgss_status.sql: whether pg_stat_statements can be read here, and which columns it has.
-- Returns one row: the preload setting as far as this role may see it (NULL when hidden),
-- the extension's installed version and schema in this database (NULL when not created),
-- the server's default version, whether we may SELECT the view, and the view's column
-- names read from pg_attribute (the extension version decides them, not the server).
-- PostgreSQL 12+. Catalog reads only, no relation locks.
SELECT
    (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
    e.extversion AS installed_version,
    n.nspname AS schema,
    (SELECT default_version FROM pg_available_extensions
      WHERE name = 'pg_stat_statements') AS default_version,
    CASE WHEN v.oid IS NULL THEN NULL
         ELSE has_table_privilege(v.oid, 'SELECT') END AS can_select,
    (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
      WHERE attrelid = v.oid AND attnum > 0 AND NOT attisdropped) AS columns
FROM (SELECT 1) one
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
LEFT JOIN pg_class v ON v.relnamespace = n.oid AND v.relname = 'pg_stat_statements'
