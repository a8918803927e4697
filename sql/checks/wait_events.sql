-- wait_events.sql: what the active sessions of this database are waiting on right now.
-- Returns wait_event_type, wait_event, the number of sessions and the longest running query
-- age among them (CPU = active without a wait event). PostgreSQL 12+. No relation locks.
SELECT coalesce(a.wait_event_type, 'CPU') AS wait_event_type,
       coalesce(a.wait_event, 'running') AS wait_event,
       count(*) AS sessions,
       max(extract(epoch FROM now() - a.query_start))::float8 AS longest_s,
       (array_agg(a.pid ORDER BY a.query_start))[1:5] AS pids
FROM pg_stat_activity a
WHERE a.state = 'active' AND a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend'
GROUP BY 1, 2
ORDER BY count(*) DESC, 1, 2
