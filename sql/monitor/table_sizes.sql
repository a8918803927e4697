-- table_sizes.sql: the top N tables and materialized views of this database by size.
-- Returns one row per relation: heap, index, toast and total bytes, row estimate, dead tuples,
-- last (auto)vacuum and (auto)analyze, and whether an ACCESS EXCLUSIVE lock is held or
-- requested on the table, its TOAST table or any of its indexes.
-- Never waits on a relation lock: relations are ranked by catalog page counts
-- (pg_class.relpages * block_size, no lock needed); the size functions, which open the
-- relation and so queue behind an ACCESS EXCLUSIVE lock, are called only for the ranked
-- candidates that have no granted or pending AccessExclusiveLock, and not at all when
-- %(catalog_only)s is true. The monitor's short lock_timeout bounds the race in between.
-- Parameters: %(limit)s (N), %(catalog_only)s (boolean). PostgreSQL 12+.
WITH ael AS MATERIALIZED (
    SELECT l.relation AS relid, l.pid, l.granted
    FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
), ael_table AS MATERIALIZED (
    -- map a lock on an index or a TOAST table to the table that owns it
    SELECT coalesce(i.indrelid, t.oid, a.relid) AS table_oid, a.pid, a.granted
    FROM ael a
    LEFT JOIN pg_index i ON i.indexrelid = a.relid
    LEFT JOIN pg_class t ON t.reltoastrelid = a.relid
), rels AS MATERIALIZED (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, c.relpages, c.reltoastrelid,
           c.relpages::bigint * current_setting('block_size')::bigint AS heap_est,
           coalesce((SELECT sum(ic.relpages)::bigint FROM pg_index x
                     JOIN pg_class ic ON ic.oid = x.indexrelid
                     WHERE x.indrelid = c.oid), 0)
               * current_setting('block_size')::bigint AS index_est,
           coalesce((SELECT tc.relpages::bigint FROM pg_class tc WHERE tc.oid = c.reltoastrelid), 0)
               * current_setting('block_size')::bigint AS toast_est
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_toast'
), ranked AS MATERIALIZED (
    SELECT r.*, r.heap_est + r.index_est + r.toast_est AS total_est,
           EXISTS (SELECT 1 FROM ael_table a WHERE a.table_oid = r.oid) AS locked
    FROM rels r
    ORDER BY r.heap_est + r.index_est + r.toast_est DESC, r.reltuples DESC, r.oid
    LIMIT %(limit)s
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
    s.n_live_tup AS live_tuples,
    s.n_dead_tup AS dead_tuples,
    s.n_mod_since_analyze AS mod_since_analyze,
    greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
    greatest(s.last_analyze, s.last_autoanalyze) AS last_analyze,
    r.locked,
    (SELECT array_agg(DISTINCT a.pid) FROM ael_table a
      WHERE a.table_oid = r.oid AND a.granted) AS lock_holders,
    (SELECT array_agg(DISTINCT a.pid) FROM ael_table a
      WHERE a.table_oid = r.oid AND NOT a.granted) AS lock_waiters
FROM ranked r
LEFT JOIN pg_stat_all_tables s ON s.relid = r.oid
ORDER BY total_bytes DESC, r.oid
