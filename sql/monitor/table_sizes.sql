-- table_sizes.sql: the top N tables and materialized views of this database by size.
-- The N largest, plus any table under an ACCESS EXCLUSIVE lock whatever its size.
-- Returns one row per relation: heap, index, toast and total bytes, row estimate, dead tuples,
-- last (auto)vacuum and (auto)analyze, and whether an ACCESS EXCLUSIVE lock is held or
-- requested on the table, its TOAST table or any of its indexes; for such a table, who holds
-- it and every session waiting for a lock on it (any mode: the readers queued behind the
-- holder wait for ACCESS SHARE, not for the exclusive lock).
-- Never waits on a relation lock: relations are ranked by catalog page counts
-- (pg_class.relpages * block_size, no lock needed; candidates are the candidates largest
-- heaps, so index and TOAST pages are summed for those only); the size functions, which open the
-- relation and so queue behind an ACCESS EXCLUSIVE lock, are called only for the ranked
-- candidates that have no granted or pending AccessExclusiveLock, and not at all when
-- catalog_only is true. The monitor's short lock_timeout bounds the race in between.
-- Parameters: limit (N), candidates, catalog_only (boolean). PostgreSQL 12+.
WITH rel_locks AS MATERIALIZED (
    SELECT l.relation AS relid, l.pid, l.granted, l.mode = 'AccessExclusiveLock' AS ael
    FROM pg_locks l
    WHERE l.locktype = 'relation'
      AND (l.mode = 'AccessExclusiveLock' OR NOT l.granted)
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
), rel_locks_table AS MATERIALIZED (
    -- map a lock on an index or a TOAST table to the table that owns it
    SELECT coalesce(i.indrelid, t.oid, a.relid) AS table_oid, a.pid, a.granted, a.ael
    FROM rel_locks a
    LEFT JOIN pg_index i ON i.indexrelid = a.relid
    LEFT JOIN pg_class t ON t.reltoastrelid = a.relid
), ael_table AS MATERIALIZED (
    SELECT r.table_oid, r.pid, r.granted FROM rel_locks_table r WHERE r.ael
), cand AS MATERIALIZED (
    -- candidates: the largest heaps by catalog page count (one pass over pg_class, no
    -- lock), plus every table under an ACCESS EXCLUSIVE lock whatever its size
    (SELECT c.oid FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_toast'
     ORDER BY c.relpages DESC, c.reltuples DESC, c.oid
     LIMIT %(candidates)s)
    UNION
    (SELECT a.table_oid FROM ael_table a)
), rels AS MATERIALIZED (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, c.relpages, c.reltoastrelid,
           c.relpages::bigint * current_setting('block_size')::bigint AS heap_est,
           coalesce((SELECT sum(ic.relpages)::bigint FROM pg_index x
                     JOIN pg_class ic ON ic.oid = x.indexrelid
                     WHERE x.indrelid = c.oid), 0)
               * current_setting('block_size')::bigint AS index_est,
           coalesce((SELECT tc.relpages::bigint FROM pg_class tc WHERE tc.oid = c.reltoastrelid), 0)
               * current_setting('block_size')::bigint AS toast_est
    FROM cand
    JOIN pg_class c ON c.oid = cand.oid AND c.relkind IN ('r', 'm')
    JOIN pg_namespace n ON n.oid = c.relnamespace
), ranked AS MATERIALIZED (
    (SELECT r.oid FROM rels r
      ORDER BY r.heap_est + r.index_est + r.toast_est DESC, r.reltuples DESC, r.oid
      LIMIT %(limit)s)
    UNION
    (SELECT a.table_oid FROM ael_table a)
), flagged AS MATERIALIZED (
    SELECT r.*, r.heap_est + r.index_est + r.toast_est AS total_est,
           EXISTS (SELECT 1 FROM ael_table a WHERE a.table_oid = r.oid) AS locked
    FROM rels r
    WHERE r.oid IN (SELECT k.oid FROM ranked k)
)
SELECT
    r.oid::bigint AS oid,
    r.nspname AS schema,
    r.relname AS name,
    r.relkind::text AS kind,
    CASE WHEN r.locked OR %(catalog_only)s THEN 'catalog' ELSE 'exact' END AS size_source,
    CASE WHEN r.locked OR %(catalog_only)s THEN r.total_est
         ELSE pg_total_relation_size(r.oid) END AS total_bytes,
    CASE WHEN r.locked OR %(catalog_only)s THEN r.heap_est
         ELSE pg_relation_size(r.oid) END AS heap_bytes,
    CASE WHEN r.locked OR %(catalog_only)s THEN r.index_est
         ELSE pg_indexes_size(r.oid) END AS index_bytes,
    CASE WHEN r.locked OR %(catalog_only)s THEN r.toast_est
         WHEN r.reltoastrelid = 0 THEN 0
         ELSE pg_total_relation_size(r.reltoastrelid) END AS toast_bytes,
    CASE WHEN r.reltuples < 0 THEN NULL ELSE r.reltuples::bigint END AS row_estimate,
    -- the statistics functions for the ranked rows only (joining pg_stat_all_tables would
    -- compute the view for every relation of the database first)
    pg_stat_get_live_tuples(r.oid) AS live_tuples,
    pg_stat_get_dead_tuples(r.oid) AS dead_tuples,
    pg_stat_get_mod_since_analyze(r.oid) AS mod_since_analyze,
    greatest(pg_stat_get_last_vacuum_time(r.oid),
             pg_stat_get_last_autovacuum_time(r.oid)) AS last_vacuum,
    greatest(pg_stat_get_last_analyze_time(r.oid),
             pg_stat_get_last_autoanalyze_time(r.oid)) AS last_analyze,
    r.locked,
    (SELECT array_agg(DISTINCT a.pid) FROM ael_table a
      WHERE a.table_oid = r.oid AND a.granted) AS lock_holders,
    (SELECT array_agg(DISTINCT a.pid) FROM rel_locks_table a
      WHERE r.locked AND a.table_oid = r.oid AND NOT a.granted) AS lock_waiters
FROM flagged r
ORDER BY total_bytes DESC, r.oid
