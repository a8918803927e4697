-- relation_stats.sql: live size and row estimate of the relations a migration names.
-- Parameter: names (text[]), each as written in the SQL ("nchat_messages", "public.x"),
-- resolved with to_regclass under the session's search_path. Returns one row per name that
-- exists: name, oid, schema_name, rel_name, relkind, size_bytes (relpages * block_size of the
-- relation, its indexes and TOAST: as of the last VACUUM/ANALYZE), row_estimate (reltuples, else
-- n_live_tup), n_live_tup, has_rows_hint.
-- PostgreSQL 10+. Never waits on a lock: catalog and statistics reads only (no
-- pg_relation_size, which opens the relation and queues behind an ACCESS EXCLUSIVE lock).
SELECT n.name,
       c.oid::bigint AS oid,
       ns.nspname::text AS schema_name,
       c.relname::text AS rel_name,
       c.relkind::text AS relkind,
       (c.relpages::bigint
        + COALESCE((SELECT sum(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                    WHERE x.indrelid = c.oid), 0)
        + COALESCE((SELECT t.relpages FROM pg_class t WHERE t.oid = c.reltoastrelid), 0))
        * current_setting('block_size')::bigint AS size_bytes,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
            ELSE COALESCE(s.n_live_tup, 0) END AS row_estimate,
       s.n_live_tup
FROM unnest(%(names)s::text[]) AS n(name)
JOIN pg_class c ON c.oid = to_regclass(n.name)
JOIN pg_namespace ns ON ns.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
