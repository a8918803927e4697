-- progress_views.sql: the pg_stat_progress_* views this server has (they came one by one: vacuum
-- 9.6, create_index and cluster 12, analyze 13, copy 14). One row per view. Catalog reads only.
-- Run without parameters (its LIKE pattern is taken as written).
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pg_catalog' AND c.relname LIKE 'pg_stat_progress_%'
