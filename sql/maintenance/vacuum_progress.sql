-- vacuum_progress.sql: the progress of the VACUUM run by backend pid (a parameter): phase, heap
-- blocks total / scanned / vacuumed, index passes. No row when it is not (or no longer) vacuuming,
-- or is in its ANALYZE part. PostgreSQL 9.6+ (pg_stat_progress_vacuum). Takes no lock.
SELECT p.phase, p.heap_blks_total, p.heap_blks_scanned, p.heap_blks_vacuumed,
       p.index_vacuum_count, p.relid::regclass::text AS relation
FROM pg_stat_progress_vacuum p
WHERE p.pid = %(pid)s
