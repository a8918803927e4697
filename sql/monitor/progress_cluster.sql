-- progress_cluster.sql: running CLUSTER / VACUUM FULL from pg_stat_progress_cluster
-- (PostgreSQL 12+). Returns kind, pid, relation, phase, scanned/total heap blocks, unit.
-- Reads shared memory; no relation locks.
SELECT lower(p.command)::text AS kind, p.pid, p.relid::regclass::text AS relation,
       p.phase::text AS phase, p.heap_blks_scanned::bigint AS done,
       p.heap_blks_total::bigint AS total, 'blocks'::text AS unit
FROM pg_stat_progress_cluster p
WHERE p.datname = current_database()
