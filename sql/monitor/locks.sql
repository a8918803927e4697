-- locks.sql: the lock-waiting sessions and who blocks them, for the blocking tree.
-- Returns one row per session that waits for a heavyweight lock: its pid, the pids that
-- block it (pg_blocking_pids: holders and sessions ahead of it in the queue), the lock it
-- asks for (mode, lock type, relation) and how long it has waited (pg_locks.waitstart from
-- PG14, read through to_jsonb; older servers fall back to the state change time), and the
-- modes each blocker holds on that same lock target (blocker_modes: pid -> [mode, ...]).
-- pg_blocking_pids() briefly locks the lock manager, so it runs once per sample and only on
-- waiting sessions (the MATERIALIZED CTE filters first). PostgreSQL 12+. No relation locks.
WITH waiting AS MATERIALIZED (
    SELECT a.pid, a.state_change, a.query_start
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock'
), blocked AS MATERIALIZED (
    SELECT w.pid, pg_blocking_pids(w.pid) AS blocked_by, w.state_change, w.query_start
    FROM waiting w
)
SELECT
    b.pid,
    b.blocked_by,
    l.mode,
    l.locktype,
    CASE WHEN l.relation IS NULL THEN NULL
         WHEN l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             THEN l.relation::regclass::text
         ELSE 'oid ' || l.relation END AS relation,
    extract(epoch FROM now() - coalesce((to_jsonb(l) ->> 'waitstart')::timestamptz,
                                        b.state_change, b.query_start))::float8 AS wait_s,
    (SELECT jsonb_object_agg(h.pid::text, h.modes)
       FROM (SELECT x.pid, array_agg(x.mode ORDER BY x.mode) AS modes
               FROM pg_locks x
              WHERE x.granted AND x.pid = ANY(b.blocked_by)
                AND x.locktype = l.locktype
                AND x.database IS NOT DISTINCT FROM l.database
                AND x.relation IS NOT DISTINCT FROM l.relation
                AND x.transactionid IS NOT DISTINCT FROM l.transactionid
              GROUP BY x.pid) h) AS blocker_modes
FROM blocked b
LEFT JOIN LATERAL (
    SELECT * FROM pg_locks x WHERE x.pid = b.pid AND NOT x.granted LIMIT 1
) l ON true
ORDER BY wait_s DESC NULLS LAST, b.pid
