-- analyze_progress.sql: the progress of the ANALYZE run by backend pid (a parameter) (phase, sample
-- blocks total / scanned). No row when it is not analyzing. PostgreSQL 13+
-- (pg_stat_progress_analyze). Takes no lock.
SELECT p.phase, p.sample_blks_total, p.sample_blks_scanned, p.relid::regclass::text AS relation
FROM pg_stat_progress_analyze p
WHERE p.pid = %(pid)s
