-- pg_activity-like activity query (written here after pg_activity's documented behaviour,
-- not its code): every backend except our own with database, application, user, client,
-- durations of query and transaction, wait state and the full query text. No locks.
SELECT a.pid, a.datname AS database, a.application_name AS appname, a.usename AS "user",
       coalesce(host(a.client_addr), 'local') AS client,
       extract(epoch FROM now() - a.query_start) AS duration,
       extract(epoch FROM now() - a.xact_start) AS xact_duration,
       a.wait_event_type, a.wait_event, a.wait_event IS NOT NULL AS wait, a.state, a.query,
       a.backend_type
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND a.state <> 'idle'
ORDER BY extract(epoch FROM now() - a.query_start) DESC NULLS LAST
