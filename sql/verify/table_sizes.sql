-- table_sizes.sql: every user table's size from pg_class (relpages times the block size, as of
-- the last VACUUM/ANALYZE) and its row estimate (reltuples; -1 = never vacuumed or analyzed).
-- Lock-free on purpose: pg_relation_size() would wait behind a migration's ACCESS EXCLUSIVE.
-- PostgreSQL 14+ (reltuples -1 for never-analyzed tables); works on older with 0 instead.
SELECT n.nspname AS schema, c.relname AS name,
       c.relpages::bigint * current_setting('block_size')::bigint AS bytes,
       c.reltuples::float8 AS reltuples
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY 1, 2
