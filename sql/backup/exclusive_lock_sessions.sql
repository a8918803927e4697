-- exclusive_lock_sessions.sql: sessions in this database holding or waiting for an
-- ACCESS EXCLUSIVE lock on a relation (DDL): pg_dump's ACCESS SHARE would queue behind them and
-- a DDL queued behind pg_dump would stall the application. PostgreSQL 10+. Reads pg_locks and
-- pg_stat_activity; takes no relation lock.
SELECT l.pid, l.granted, l.relation::regclass::text AS relation, a.usename AS "user",
       a.application_name, a.state,
       EXTRACT(EPOCH FROM now() - a.xact_start)::float8 AS xact_age_s,
       left(a.query, 200) AS query
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
ORDER BY l.granted DESC, l.pid
