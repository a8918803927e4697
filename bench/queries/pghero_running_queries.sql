-- PgHero-like "running queries" (after its documented behaviour): non-idle sessions of this
-- database except our own, with their duration and wait event, newest first. No locks.
SELECT a.pid, a.state, a.application_name AS source,
       age(now(), coalesce(a.query_start, a.xact_start)) AS duration,
       a.wait_event_type, a.wait_event, a.query, a.query_start, a.backend_type
FROM pg_stat_activity a
WHERE a.state <> 'idle' AND a.pid <> pg_backend_pid() AND a.datname = current_database()
ORDER BY coalesce(a.query_start, a.xact_start) DESC
