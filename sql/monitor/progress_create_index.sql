-- progress_create_index.sql: running CREATE INDEX / REINDEX (also CONCURRENTLY) from
-- pg_stat_progress_create_index. Returns kind, pid, relation (the index when known, else
-- the table), phase, done/total (blocks while scanning, tuples while loading) and the unit.
-- PostgreSQL 12+. Reads shared memory; no relation locks.
SELECT 'create_index'::text AS kind, p.pid,
       coalesce(nullif(p.index_relid, 0)::regclass::text, p.relid::regclass::text) AS relation,
       p.phase::text AS phase,
       CASE WHEN p.blocks_total > 0 THEN p.blocks_done ELSE p.tuples_done END::bigint AS done,
       CASE WHEN p.blocks_total > 0 THEN p.blocks_total ELSE p.tuples_total END::bigint AS total,
       CASE WHEN p.blocks_total > 0 THEN 'blocks' ELSE 'tuples' END::text AS unit
FROM pg_stat_progress_create_index p
WHERE p.datname = current_database()
