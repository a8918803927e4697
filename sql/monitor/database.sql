-- database.sql: this database's size and cumulative counters, and the server's connection limit.
-- Returns one row. pg_database_size() is called once, for the whole database (it reads the
-- directory, takes no relation lock); the rest are pg_stat_database and settings reads.
-- PostgreSQL 12+ (pg_stat_database has the same columns used here since 9.x).
SELECT
    now() AS server_now,
    pg_database_size(current_database()) AS database_size,
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
