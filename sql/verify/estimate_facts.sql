-- estimate_facts.sql: what ANALYZE left for one table (by schema and name): relpages and
-- reltuples, the rows ANALYZE samples (300 times the largest column statistics target, at
-- least 100: it reads at most that many pages), and the block size. PostgreSQL 12+
-- (attstattarget -1 or, from 17, NULL = the default). Catalog reads only: takes no lock.
SELECT c.relpages::bigint AS relpages, c.reltuples::float8 AS reltuples,
       GREATEST(100, 300 * COALESCE((
           SELECT max(CASE WHEN a.attstattarget IS NULL OR a.attstattarget < 0
                           THEN current_setting('default_statistics_target')::int
                           ELSE a.attstattarget END)
           FROM pg_attribute a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), 0))::bigint
           AS sample_rows,
       current_setting('block_size')::int AS block_size
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND c.relkind = 'r'
