-- database.sql: this database's cumulative counters, and the server's connection limit.
-- Returns one row: pg_stat_database and settings reads (the size is database_size.sql: it
-- stats every file of the database, so the monitor refreshes it less often).
-- PostgreSQL 12+ (pg_stat_database has the columns used here since 9.x). No locks.
SELECT
    now() AS server_now,
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
WHERE d.datname = current_database()
