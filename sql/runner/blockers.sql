-- blockers.sql: details of the sessions that block the runner. Parameter: pids (int[]).
-- Returns pid, application_name, usename, client_addr, state, xact_age_s (seconds since its
-- transaction began), state_age_s, wait_event_type, query (first 300 characters).
-- PostgreSQL 10+. Reads pg_stat_activity only.
SELECT pid,
       application_name,
       usename::text AS usename,
       host(client_addr) AS client_addr,
       state,
       extract(epoch FROM now() - xact_start)::float8 AS xact_age_s,
       extract(epoch FROM now() - state_change)::float8 AS state_age_s,
       wait_event_type,
       left(query, 300) AS query
FROM pg_stat_activity
WHERE pid = ANY (%(pids)s::int[])
ORDER BY xact_start NULLS LAST
