-- progress_vacuum.sql: running VACUUMs (manual and autovacuum) from pg_stat_progress_vacuum.
-- Returns kind, pid, relation, phase, done/total heap blocks and the unit. PostgreSQL 12+.
-- The monitor joins the progress files that exist on the server with UNION ALL into one
-- round trip. Reads shared memory; no relation locks (regclass output reads the catalog).
SELECT 'vacuum'::text AS kind, p.pid, p.relid::regclass::text AS relation, p.phase::text AS phase,
       p.heap_blks_scanned::bigint AS done, p.heap_blks_total::bigint AS total,
       'blocks'::text AS unit
FROM pg_stat_progress_vacuum p
WHERE p.datname = current_database()
