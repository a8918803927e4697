-- activity.sql: every client backend of the server, one row each, for the connections panel.
-- Returns pid, database, user, application, client, state, wait event, ages of the backend,
-- transaction, query and state, whether it holds a transaction id, whether its role is a
-- superuser, and the query text cut to 300 characters. Version-dependent columns
-- (leader_pid PG13+, query_id PG14+) are read through to_jsonb so one file serves PG12-17.
-- Rows of other roles' sessions show NULL state and '<insufficient privilege>' for a role
-- without pg_read_all_stats: the monitor labels that view as degraded.
-- lock_waiters_server counts the sessions of any kind (autovacuum and parallel workers too)
-- that wait for a heavyweight lock, from the same read of pg_stat_activity: while it is 0,
-- locks.sql would return nothing, and the sampler does not run it.
-- Takes no relation locks (pg_stat_activity reads shared memory).
SELECT
    a.pid,
    a.datname AS database,
    a.usename AS "user",
    a.application_name AS application,
    host(a.client_addr) AS client_addr,
    -- a role without pg_read_all_stats sees NULL backend_type on others' rows: a row with a
    -- database is then counted as a (hidden) client session
    coalesce(a.backend_type, CASE WHEN a.datname IS NOT NULL THEN 'client backend' END)
        AS backend_type,
    a.backend_type IS NULL AS hidden,
    a.state,
    a.wait_event_type,
    a.wait_event,
    extract(epoch FROM now() - a.backend_start)::float8 AS backend_age_s,
    extract(epoch FROM now() - a.xact_start)::float8 AS xact_age_s,
    extract(epoch FROM now() - a.query_start)::float8 AS query_age_s,
    extract(epoch FROM now() - a.state_change)::float8 AS state_age_s,
    a.backend_xid IS NOT NULL AS has_xid,
    (to_jsonb(a) ->> 'leader_pid')::int AS leader_pid,
    r.rolsuper AS superuser,
    left(a.query, 300) AS query,
    (SELECT count(*) FROM pg_stat_activity w WHERE w.wait_event_type = 'Lock')::int
        AS lock_waiters_server
FROM pg_stat_activity a
LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.backend_type IN ('client backend', 'walsender')
   OR (a.backend_type IS NULL AND a.datname IS NOT NULL)
ORDER BY a.xact_start NULLS LAST, a.pid
