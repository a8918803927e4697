-- progress_copy.sql: running COPY (pg_dump and pg_restore use it) from pg_stat_progress_copy
-- (PostgreSQL 14+). Returns kind, pid, relation, the command as phase, bytes processed of
-- bytes total when the size is known (else tuples processed) and the unit. No relation locks.
SELECT 'copy'::text AS kind, p.pid,
       CASE WHEN p.relid = 0 THEN NULL ELSE p.relid::regclass::text END AS relation,
       (p.command || ' ' || p.type)::text AS phase,
       CASE WHEN p.bytes_total > 0 THEN p.bytes_processed ELSE p.tuples_processed END::bigint
           AS done,
       CASE WHEN p.bytes_total > 0 THEN p.bytes_total ELSE NULL END::bigint AS total,
       CASE WHEN p.bytes_total > 0 THEN 'bytes' ELSE 'tuples' END::text AS unit
FROM pg_stat_progress_copy p
WHERE p.datname = current_database()
