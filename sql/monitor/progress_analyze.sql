-- progress_analyze.sql: running ANALYZEs from pg_stat_progress_analyze (PostgreSQL 13+).
-- Returns kind, pid, relation, phase, sampled/total blocks and the unit. No relation locks.
SELECT 'analyze'::text AS kind, p.pid, p.relid::regclass::text AS relation, p.phase::text AS phase,
       p.sample_blks_scanned::bigint AS done, p.sample_blks_total::bigint AS total,
       'blocks'::text AS unit
FROM pg_stat_progress_analyze p
WHERE p.datname = current_database()
