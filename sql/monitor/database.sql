-- database.sql: the cumulative counters of every database of the server, and its limits.
-- Returns one row per database (pg_stat_database rows with a name; the shared-objects row
-- has none), with is_current marking the monitor's own database, plus the connection limit
-- settings on every row. The size is database_size.sql: it stats every file of the
-- database, so the monitor refreshes it less often.
-- PostgreSQL 12+ (pg_stat_database has the columns used here since 9.x). No locks.
SELECT
    now() AS server_now,
    d.datname,
    d.datname = current_database() AS is_current,
    d.numbackends,
    d.xact_commit,
    d.xact_rollback,
    d.blks_hit,
    d.blks_read,
    d.tup_returned,
    d.tup_inserted,
    d.tup_updated,
    d.tup_deleted,
    d.temp_bytes,
    d.deadlocks,
    d.conflicts,
    d.stats_reset,
    current_setting('max_connections')::int AS max_connections,
    current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections
FROM pg_stat_database d
WHERE d.datname IS NOT NULL
ORDER BY d.datname
